#include "engine/tensor.h"

#include <cstdlib>
#include <cstring>
#include <new>

namespace kiln::engine {

size_t ElementSize(DType dtype) {
  switch (dtype) {
    case DType::kBool:
    case DType::kUInt8:
    case DType::kInt8:
      return 1;
    case DType::kInt16:
    case DType::kFloat16:
    case DType::kBFloat16:
      return 2;
    case DType::kInt32:
    case DType::kFloat32:
      return 4;
    case DType::kInt64:
    case DType::kFloat64:
      return 8;
  }
  return 0;
}

std::string_view DTypeName(DType dtype) {
  switch (dtype) {
    case DType::kBool: return "bool";
    case DType::kUInt8: return "uint8";
    case DType::kInt8: return "int8";
    case DType::kInt16: return "int16";
    case DType::kInt32: return "int32";
    case DType::kInt64: return "int64";
    case DType::kFloat16: return "float16";
    case DType::kBFloat16: return "bfloat16";
    case DType::kFloat32: return "float32";
    case DType::kFloat64: return "float64";
  }
  return "unknown";
}

int64_t NumElements(const std::vector<int64_t>& shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

std::string ShapeToString(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i > 0) s += ",";
    s += std::to_string(shape[i]);
  }
  return s + "]";
}

Tensor Tensor::Allocate(DType dtype, std::vector<int64_t> shape) {
  Tensor t;
  t.dtype = dtype;
  t.shape = std::move(shape);
  t.byte_size = static_cast<size_t>(t.num_elements()) * ElementSize(dtype);
  // 64-byte alignment suits AVX-512 loads; aligned_alloc wants a multiple.
  const size_t rounded = ((t.byte_size + 63) / 64) * 64;
  void* block = std::aligned_alloc(64, rounded == 0 ? 64 : rounded);
  if (block == nullptr) throw std::bad_alloc();
  std::memset(block, 0, rounded == 0 ? 64 : rounded);
  t.data = block;
  t.owner = std::shared_ptr<const void>(block, [](const void* p) {
    std::free(const_cast<void*>(p));
  });
  return t;
}

Tensor Tensor::View(DType dtype, std::vector<int64_t> shape, void* data,
                    size_t byte_size, std::shared_ptr<const void> owner) {
  Tensor t;
  t.dtype = dtype;
  t.shape = std::move(shape);
  t.data = data;
  t.byte_size = byte_size;
  t.owner = std::move(owner);
  return t;
}

}  // namespace kiln::engine

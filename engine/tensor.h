// A dense tensor passed across the engine boundary: dtype, shape and a
// row-major, contiguous byte buffer kept alive by a type-erased owner.
//
// The type carries no LibTorch dependency so the server can decode and encode
// tensors without LibTorch headers. Copying a Tensor shares its bytes; it
// never copies them. Thread safety: a Tensor is a value; concurrent reads are
// safe, and writers must own the buffer exclusively.
#ifndef KILN_ENGINE_TENSOR_H_
#define KILN_ENGINE_TENSOR_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace kiln::engine {

enum class DType : int8_t {
  kBool,
  kUInt8,
  kInt8,
  kInt16,
  kInt32,
  kInt64,
  kFloat16,
  kBFloat16,
  kFloat32,
  kFloat64,
};

// Bytes per element of `dtype`.
size_t ElementSize(DType dtype);

// A short lowercase name ("float32", "int64", ...) for logs and errors.
std::string_view DTypeName(DType dtype);

// Product of `shape`; 1 for a scalar (empty shape).
int64_t NumElements(const std::vector<int64_t>& shape);

// "[1,3,224,224]"
std::string ShapeToString(const std::vector<int64_t>& shape);

struct Tensor {
  DType dtype = DType::kFloat32;
  std::vector<int64_t> shape;
  // Start of the row-major bytes; may be null when byte_size is 0.
  void* data = nullptr;
  size_t byte_size = 0;
  // Keeps `data` alive (a request buffer, a LibTorch tensor, a heap block).
  std::shared_ptr<const void> owner;

  int64_t num_elements() const { return NumElements(shape); }

  // A tensor with a fresh, zero-initialized, 64-byte aligned buffer sized for
  // dtype and shape.
  static Tensor Allocate(DType dtype, std::vector<int64_t> shape);

  // A tensor that views bytes owned by `owner`. The caller guarantees that
  // byte_size == NumElements(shape) * ElementSize(dtype).
  static Tensor View(DType dtype, std::vector<int64_t> shape, void* data,
                     size_t byte_size, std::shared_ptr<const void> owner);
};

}  // namespace kiln::engine

#endif  // KILN_ENGINE_TENSOR_H_

#include "engine/torch_tensor.h"

#include <ATen/ATen.h>

#include "absl/strings/str_cat.h"

namespace kiln::engine {

c10::ScalarType ToScalarType(DType dtype) {
  switch (dtype) {
    case DType::kBool: return c10::kBool;
    case DType::kUInt8: return c10::kByte;
    case DType::kInt8: return c10::kChar;
    case DType::kInt16: return c10::kShort;
    case DType::kInt32: return c10::kInt;
    case DType::kInt64: return c10::kLong;
    case DType::kFloat16: return c10::kHalf;
    case DType::kBFloat16: return c10::kBFloat16;
    case DType::kFloat32: return c10::kFloat;
    case DType::kFloat64: return c10::kDouble;
  }
  return c10::kFloat;
}

absl::StatusOr<DType> FromScalarType(c10::ScalarType type) {
  switch (type) {
    case c10::kBool: return DType::kBool;
    case c10::kByte: return DType::kUInt8;
    case c10::kChar: return DType::kInt8;
    case c10::kShort: return DType::kInt16;
    case c10::kInt: return DType::kInt32;
    case c10::kLong: return DType::kInt64;
    case c10::kHalf: return DType::kFloat16;
    case c10::kBFloat16: return DType::kBFloat16;
    case c10::kFloat: return DType::kFloat32;
    case c10::kDouble: return DType::kFloat64;
    default:
      return absl::InvalidArgumentError(
          absl::StrCat("tensors of type ", c10::toString(type),
                       " cannot be served"));
  }
}

at::Tensor ToTorch(const Tensor& tensor) {
  auto options = at::TensorOptions().dtype(ToScalarType(tensor.dtype));
  if (tensor.byte_size == 0) return at::empty(tensor.shape, options);
  // The deleter owns a reference to the bytes' owner, so LibTorch may keep the
  // tensor (or a view of it) past the request without dangling.
  std::shared_ptr<const void> owner = tensor.owner;
  return at::from_blob(
      tensor.data, tensor.shape, [owner](void*) mutable { owner.reset(); },
      options);
}

absl::StatusOr<Tensor> FromTorch(const at::Tensor& tensor) {
  auto dtype = FromScalarType(tensor.scalar_type());
  if (!dtype.ok()) return dtype.status();
  at::Tensor dense = tensor.to(at::kCPU).contiguous();
  auto holder = std::make_shared<at::Tensor>(dense);
  Tensor out;
  out.dtype = *dtype;
  out.shape.assign(dense.sizes().begin(), dense.sizes().end());
  out.data = dense.data_ptr();
  out.byte_size = dense.numel() * dense.element_size();
  out.owner = std::shared_ptr<const void>(holder, holder->data_ptr());
  return out;
}

}  // namespace kiln::engine

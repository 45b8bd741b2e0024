// Conversions between engine::Tensor and LibTorch tensors. Internal to the
// engine: only engine .cc files include LibTorch headers.
#ifndef KILN_ENGINE_TORCH_TENSOR_H_
#define KILN_ENGINE_TORCH_TENSOR_H_

#include <ATen/core/Tensor.h>

#include "absl/status/statusor.h"
#include "engine/tensor.h"

namespace kiln::engine {

c10::ScalarType ToScalarType(DType dtype);
absl::StatusOr<DType> FromScalarType(c10::ScalarType type);

// A LibTorch tensor over `tensor`'s bytes (no copy); it keeps tensor.owner
// alive for as long as LibTorch holds the storage.
at::Tensor ToTorch(const Tensor& tensor);

// An engine tensor sharing a CPU, contiguous version of `tensor` (copies only
// when `tensor` is on another device or not contiguous).
absl::StatusOr<Tensor> FromTorch(const at::Tensor& tensor);

}  // namespace kiln::engine

#endif  // KILN_ENGINE_TORCH_TENSOR_H_

// Shapes of every tensor a graph computes on one input: what lets the
// segmenter compile for fixed shapes. A plan is keyed by its input shapes,
// so the shapes seen on the triggering request hold for every request that
// reuses the plan (graphs whose shapes depend on values are detected and
// not specialized; see specialize_shapes.h).
#ifndef KILN_ENGINE_SEGMENT_SHAPE_PROFILE_H_
#define KILN_ENGINE_SEGMENT_SHAPE_PROFILE_H_

#include <torch/csrc/jit/ir/ir.h>

#include <unordered_map>
#include <vector>

#include "absl/status/statusor.h"

namespace kiln::engine::segment {

struct TensorMeta {
  std::vector<int64_t> dims;
  c10::ScalarType dtype = c10::ScalarType::Float;
  // The value computed on the profiled input: what each compiled segment is
  // checked against. Held only while a plan is being built.
  at::Tensor value;
};

// Top-level values of one graph (block-internal values are not recorded).
using ShapeProfile = std::unordered_map<const torch::jit::Value*, TensorMeta>;

// Runs `graph` on `stack` (its full input list, the module first when the
// graph takes one) through the TorchScript interpreter, recording every
// top-level tensor value. Returns the graph's outputs: the reference result
// for this input. The graph is left as it was.
// Errors: Internal with TorchScript's message when running raises.
absl::StatusOr<std::vector<c10::IValue>> ProfileShapes(
    const std::shared_ptr<torch::jit::Graph>& graph, std::vector<c10::IValue> stack,
    ShapeProfile* profile);

}  // namespace kiln::engine::segment

#endif  // KILN_ENGINE_SEGMENT_SHAPE_PROFILE_H_

// How a compiled segment runs inside TorchScript: the segment's nodes are
// replaced by one call to the operator kiln::segment(int handle, Tensor[])
// -> Tensor[], whose handle is the address of a SegmentRunner. The plan that
// owns the rewritten graph owns its runners, so a handle is valid whenever
// the graph can run. Nodes left to TorchScript run around it unchanged.
#ifndef KILN_ENGINE_SEGMENT_SEGMENT_CALL_H_
#define KILN_ENGINE_SEGMENT_SEGMENT_CALL_H_

#include <ATen/core/Tensor.h>
#include <torch/csrc/jit/ir/ir.h>

#include <memory>
#include <vector>

#include "engine/plan/compiled_segment.h"
#include "engine/segment/partition.h"

namespace kiln::engine::segment {

class SegmentRunner {
 public:
  explicit SegmentRunner(std::unique_ptr<plan::CompiledSegment> segment)
      : segment_(std::move(segment)) {}
  // Runs on fp32 tensors of the compiled shapes (made contiguous if needed);
  // returns freshly allocated outputs. Throws c10::Error on a shape or
  // runtime error, as TorchScript operators do.
  std::vector<at::Tensor> Run(const std::vector<at::Tensor>& inputs) const;
  const plan::CompiledSegment& segment() const { return *segment_; }

 private:
  std::unique_ptr<plan::CompiledSegment> segment_;
};

// Replaces `spec.nodes` in `graph` with a kiln::segment call to `runner`.
// Returns the values that now stand for spec.outputs (in order): later
// segments reading those outputs must read these instead.
std::vector<torch::jit::Value*> ReplaceWithSegmentCall(torch::jit::Graph& graph,
                                                       const SegmentSpec& spec,
                                                       const SegmentRunner* runner);

}  // namespace kiln::engine::segment

#endif  // KILN_ENGINE_SEGMENT_SEGMENT_CALL_H_

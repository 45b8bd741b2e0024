// Pass `normalize_convolution`: rewrites aten::_convolution - what traced
// models contain - into the op a scripted model would have used, so the
// segmenter matches one spelling of each convolution:
//
//   not transposed, 1/2/3 spatial dims -> aten::conv1d / conv2d / conv3d
//       (input, weight, bias, stride, padding, dilation, groups)
//   transposed, 1/2/3 spatial dims     -> aten::conv_transpose1d / 2d / 3d
//       (input, weight, bias, stride, padding, output_padding, groups,
//        dilation)
//
// The cuDNN flags (benchmark, deterministic, cudnn_enabled, allow_tf32) are
// dropped: the named ops take them from the process's global settings, which
// only choose among algorithms computing the same convolution.
//
// Left alone: `transposed` not a constant; a non-transposed convolution with
// an output_padding not known to be all zeros (the named ops have no such
// argument); a spatial rank that cannot be told (from the weight if
// constant, else the input's type, else the stride/padding/dilation lists) or
// is not 1-3; an input whose known rank is not spatial rank + 2 (the named ops
// would accept an unbatched input that aten::_convolution rejects).
//
// Returns true if the graph changed. Throws c10::Error if LibTorch does.
#ifndef KILN_ENGINE_PASSES_NORMALIZE_CONVOLUTION_H_
#define KILN_ENGINE_PASSES_NORMALIZE_CONVOLUTION_H_

#include <torch/csrc/jit/ir/ir.h>

#include <memory>

namespace kiln::engine::passes {

bool NormalizeConvolution(std::shared_ptr<torch::jit::Graph>& graph);

}  // namespace kiln::engine::passes

#endif  // KILN_ENGINE_PASSES_NORMALIZE_CONVOLUTION_H_

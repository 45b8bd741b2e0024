// Pass `fold_frozen_conv` (frozen graphs only): folds into a convolution's
// weight and bias what follows it when that is a per-channel affine map with
// constant parameters - aten::batch_norm in eval mode, add/sub of a constant,
// mul/div by a constant - repeated until nothing more folds, so conv -> bn ->
// mul -> add becomes one conv.
//
// Applies to aten::conv1d/2d/3d and non-transposed aten::_convolution whose
// arguments are all constants, when the convolution's output has no other
// user, the constant broadcasts only along channels, and - for batch norm -
// `training` is the constant false (LibTorch 1.13 does not check that last
// condition itself; this pass does). Numerics: the folded weights
// are computed once in the weight's dtype; on fp32 results agree with the
// unfolded graph to about 1e-5 relative.
//
// On an unfrozen graph the weights are attribute reads, not constants, and
// nothing folds; the pipeline skips the pass there.
//
// Returns true if the graph changed. Throws c10::Error if LibTorch does.
#ifndef KILN_ENGINE_PASSES_FOLD_FROZEN_CONV_H_
#define KILN_ENGINE_PASSES_FOLD_FROZEN_CONV_H_

#include <torch/csrc/jit/ir/ir.h>

#include <memory>

namespace kiln::engine::passes {

bool FoldFrozenConvolutions(std::shared_ptr<torch::jit::Graph>& graph);

}  // namespace kiln::engine::passes

#endif  // KILN_ENGINE_PASSES_FOLD_FROZEN_CONV_H_

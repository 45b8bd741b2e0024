// Pass `normalize_activations`: rewrites aten::hardtanh(x, 0, 6) - how
// nn.ReLU6 (a Hardtanh subclass) reaches a graph - into aten::relu6(x), so
// the segmenter matches one spelling of ReLU6 (MobileNet's activation).
// LibTorch computes relu6 as hardtanh(x, 0, 6), so results are identical.
//
// Left alone: bounds that are not constants or not exactly 0 and 6; the
// in-place aten::hardtanh_ (remove_mutation makes it functional where that
// is safe; where it is not, the mutation has to stay).
//
// Returns true if the graph changed. Throws c10::Error if LibTorch does.
#ifndef KILN_ENGINE_PASSES_NORMALIZE_ACTIVATIONS_H_
#define KILN_ENGINE_PASSES_NORMALIZE_ACTIVATIONS_H_

#include <torch/csrc/jit/ir/ir.h>

#include <memory>

namespace kiln::engine::passes {

bool NormalizeActivations(std::shared_ptr<torch::jit::Graph>& graph);

}  // namespace kiln::engine::passes

#endif  // KILN_ENGINE_PASSES_NORMALIZE_ACTIVATIONS_H_

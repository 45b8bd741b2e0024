// Pass `remove_mutation`: rewrites in-place ops (aten::relu_, aten::add_,
// aten::hardtanh_, ...) into their functional forms, and list mutation
// (aten::append on a fresh list) into list construction, wherever that
// provably computes the same thing.
//
// Why: Kiln's segmenter only lowers functional ops. Traced and scripted vision
// models are full of in-place activations and residual sums (`out += identity`,
// nn.ReLU(inplace=True)); on a frozen ResNet every relu_ and add_ becomes
// functional.
//
// What stays in place: mutation of a graph input, of a value that may alias
// another (a view, an attribute of an unfrozen module, a list element), or
// of the output of a node with side effects or sub-blocks - there the
// mutation is observable.
//
// Returns true if the graph changed. Throws c10::Error if LibTorch does.
#ifndef KILN_ENGINE_PASSES_REMOVE_MUTATION_H_
#define KILN_ENGINE_PASSES_REMOVE_MUTATION_H_

#include <torch/csrc/jit/ir/ir.h>

#include <memory>

namespace kiln::engine::passes {

bool RemoveMutation(std::shared_ptr<torch::jit::Graph>& graph);

}  // namespace kiln::engine::passes

#endif  // KILN_ENGINE_PASSES_REMOVE_MUTATION_H_

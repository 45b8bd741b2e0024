#include "engine/passes/normalize_activations.h"

#include <torch/csrc/jit/ir/constants.h>

#include <optional>
#include <vector>

namespace kiln::engine::passes {
namespace {

using torch::jit::Node;
using torch::jit::Value;

std::optional<double> ConstantNumber(const Value* value) {
  auto constant = torch::jit::toIValue(value);
  if (!constant) return std::nullopt;
  if (constant->isDouble()) return constant->toDouble();
  if (constant->isInt()) return static_cast<double>(constant->toInt());
  return std::nullopt;
}

bool IsHardtanhZeroToSix(const Node* node) {
  if (!node->matches("aten::hardtanh(Tensor self, Scalar min_val=-1, "
                     "Scalar max_val=1) -> Tensor")) {
    return false;
  }
  return ConstantNumber(node->input(1)) == 0.0 &&
         ConstantNumber(node->input(2)) == 6.0;
}

void CollectHardtanhs(torch::jit::Block* block, std::vector<Node*>* found) {
  for (Node* node : block->nodes()) {
    for (torch::jit::Block* sub_block : node->blocks()) {
      CollectHardtanhs(sub_block, found);
    }
    if (IsHardtanhZeroToSix(node)) found->push_back(node);
  }
}

void ReplaceWithRelu6(Node* hardtanh) {
  static const auto relu6 = c10::Symbol::fromQualString("aten::relu6");
  torch::jit::Graph* graph = hardtanh->owningGraph();
  Node* replacement = graph->create(relu6, {hardtanh->input(0)}, 1);
  replacement->insertBefore(hardtanh);
  replacement->copyMetadata(hardtanh);
  replacement->output()->copyMetadata(hardtanh->output());
  hardtanh->output()->replaceAllUsesWith(replacement->output());
  // The bound constants may now be unused; final_simplify removes them.
  hardtanh->destroy();
}

}  // namespace

bool NormalizeActivations(std::shared_ptr<torch::jit::Graph>& graph) {
  // Collected first, then rewritten in graph order.
  std::vector<Node*> hardtanhs;
  CollectHardtanhs(graph->block(), &hardtanhs);
  for (Node* hardtanh : hardtanhs) ReplaceWithRelu6(hardtanh);
  return !hardtanhs.empty();
}

}  // namespace kiln::engine::passes

#include "engine/passes/graph_util.h"

#include <vector>

namespace kiln::engine::passes {
namespace {

int CountBlockNodes(const torch::jit::Block& block) {
  int count = 0;
  for (const torch::jit::Node* node : block.nodes()) {
    ++count;
    for (const torch::jit::Block* sub_block : node->blocks()) {
      count += CountBlockNodes(*sub_block);
    }
  }
  return count;
}

}  // namespace

int CountNodes(const torch::jit::Graph& graph) {
  return CountBlockNodes(*graph.block());
}

std::string GraphText(const torch::jit::Graph& graph) {
  return graph.toString(/*print_source_locations=*/false);
}

void ReplaceGraphContents(torch::jit::Graph& source, torch::jit::Graph& target) {
  torch::jit::Block* block = target.block();
  for (size_t i = block->outputs().size(); i > 0; --i) {
    block->eraseOutput(i - 1);
  }
  // Newest first: by the time a node goes, every node that used its outputs
  // (uses only come later in a block) is gone.
  std::vector<torch::jit::Node*> nodes(block->nodes().begin(),
                                       block->nodes().end());
  for (auto it = nodes.rbegin(); it != nodes.rend(); ++it) {
    (*it)->destroy();
  }
  for (size_t i = block->inputs().size(); i > 0; --i) {
    block->eraseInput(i - 1);
  }
  // A top-level block refers to nothing outside itself, so the value map is
  // never consulted for a well-formed source.
  block->cloneFrom(source.block(), [](torch::jit::Value* free_value) {
    TORCH_INTERNAL_ASSERT(false, "graph refers to a value outside itself: ",
                          free_value->debugName());
    return free_value;
  });
  // The insertion point may have pointed at a node destroyed above.
  target.setInsertPoint(block);
}

}  // namespace kiln::engine::passes

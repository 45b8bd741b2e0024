#include "engine/passes/remove_mutation.h"

#include <torch/csrc/jit/passes/remove_mutation.h>

#include "engine/passes/graph_util.h"

namespace kiln::engine::passes {

bool RemoveMutation(std::shared_ptr<torch::jit::Graph>& graph) {
  // Two LibTorch passes, each proving its own rewrites safe from alias
  // analysis. Their own reports are not relied on (the tensor pass may
  // reorder nodes to make creation and mutation adjacent); the text tells.
  const std::string before = GraphText(*graph);
  torch::jit::RemoveListMutation(graph);
  torch::jit::RemoveTensorMutation(graph);
  return GraphText(*graph) != before;
}

}  // namespace kiln::engine::passes

#include "engine/passes/remove_dropout.h"

#include <torch/csrc/jit/passes/remove_dropout.h>

#include "engine/passes/graph_util.h"

namespace kiln::engine::passes {

bool RemoveEvalDropout(std::shared_ptr<torch::jit::Graph>& graph) {
  // LibTorch's graph form does exactly the contract above (it checks that
  // `train` is a constant false) but reports nothing; the text tells.
  const std::string before = GraphText(*graph);
  torch::jit::removeDropout(graph);
  return GraphText(*graph) != before;
}

}  // namespace kiln::engine::passes

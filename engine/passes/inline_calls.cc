#include "engine/passes/inline_calls.h"

#include <torch/csrc/jit/passes/inliner.h>

#include "engine/passes/graph_util.h"

namespace kiln::engine::passes {

bool InlineCalls(std::shared_ptr<torch::jit::Graph>& graph) {
  // torch::jit::Inline reports nothing; the text tells.
  const std::string before = GraphText(*graph);
  torch::jit::Inline(*graph);
  return GraphText(*graph) != before;
}

}  // namespace kiln::engine::passes

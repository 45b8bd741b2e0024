#include "engine/passes/simplify.h"

#include <torch/csrc/jit/passes/common_subexpression_elimination.h>
#include <torch/csrc/jit/passes/constant_propagation.h>
#include <torch/csrc/jit/passes/dead_code_elimination.h>

#include "engine/passes/graph_util.h"

namespace kiln::engine::passes {

bool SimplifyGraph(std::shared_ptr<torch::jit::Graph>& graph) {
  // Dead code elimination reports nothing, and constant propagation may
  // report a change that a later step undoes; the text tells.
  const std::string before = GraphText(*graph);
  // Custom-class objects (packed weights of quantized or third-party ops)
  // stay built at run time, as LibTorch's own freezing leaves them: folded
  // into a constant they would hide from later passes how they were made.
  torch::jit::ConstantPropagation(graph, /*ignore_custom_classes=*/true);
  torch::jit::EliminateDeadCode(graph);
  torch::jit::EliminateCommonSubexpression(graph);
  return GraphText(*graph) != before;
}

}  // namespace kiln::engine::passes

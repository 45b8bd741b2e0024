#include "engine/passes/fold_frozen_conv.h"

#include <torch/csrc/jit/ir/constants.h>
#include <torch/csrc/jit/passes/frozen_conv_folding.h>

#include <vector>

#include "engine/passes/graph_util.h"

namespace kiln::engine::passes {
namespace {

bool IsEvalBatchNorm(const torch::jit::Node* node) {
  const auto training =
      torch::jit::constant_as<bool>(node->namedInput("training"));
  return training.has_value() && !*training;
}

void CollectTrainingBatchNormInputs(torch::jit::Block* block,
                                    std::vector<torch::jit::Value*>* inputs) {
  static const auto batch_norm =
      c10::Symbol::fromQualString("aten::batch_norm");
  for (torch::jit::Node* node : block->nodes()) {
    for (torch::jit::Block* sub_block : node->blocks()) {
      CollectTrainingBatchNormInputs(sub_block, inputs);
    }
    if (node->kind() == batch_norm && !IsEvalBatchNorm(node)) {
      inputs->push_back(node->input(0));
    }
  }
}

// LibTorch 1.13's batch-norm fold does not look at batch norm's `training`
// flag: it would fold a batch norm that normalizes with the batch's own
// statistics as if it used the running ones. It does refuse a conv whose
// output has a second user, so each such batch norm's input is made a
// graph output - a user no dead-code pass removes - while the folds run.
class TrainingBatchNormShield {
 public:
  explicit TrainingBatchNormShield(torch::jit::Graph& graph)
      : graph_(graph), outputs_before_(graph.outputs().size()) {
    std::vector<torch::jit::Value*> inputs;
    CollectTrainingBatchNormInputs(graph.block(), &inputs);
    for (torch::jit::Value* input : inputs) graph_.registerOutput(input);
  }
  ~TrainingBatchNormShield() {
    while (graph_.outputs().size() > outputs_before_) {
      graph_.eraseOutput(graph_.outputs().size() - 1);
    }
  }
  TrainingBatchNormShield(const TrainingBatchNormShield&) = delete;
  TrainingBatchNormShield& operator=(const TrainingBatchNormShield&) = delete;

 private:
  torch::jit::Graph& graph_;
  const size_t outputs_before_;
};

}  // namespace

bool FoldFrozenConvolutions(std::shared_ptr<torch::jit::Graph>& graph) {
  // The LibTorch folds end with dead code elimination, which may change the
  // graph when they report no fold; the text tells what changed.
  const std::string before = GraphText(*graph);
  {
    TrainingBatchNormShield shield(*graph);
    // Each fold exposes the next op to the convolution (conv -> bn -> mul:
    // the mul only follows a conv once bn is gone), hence the fixed point.
    // Every fold removes the op it folded, so the loop ends.
    bool folded = true;
    while (folded) {
      folded = torch::jit::FoldFrozenConvBatchnorm(graph);
      folded |= torch::jit::FoldFrozenConvAddOrSub(graph);
      folded |= torch::jit::FoldFrozenConvMulOrDiv(graph);
    }
  }
  return GraphText(*graph) != before;
}

}  // namespace kiln::engine::passes

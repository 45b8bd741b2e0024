#include "engine/passes/test_graphs.h"

#include <torch/csrc/jit/ir/irparser.h>
#include <torch/csrc/jit/passes/freeze_module.h>
#include <torch/csrc/jit/runtime/interpreter.h>
#include <torch/torch.h>

#include <sstream>

namespace kiln::engine::passes::testing {
namespace {

int CountKindIn(const torch::jit::Block& block, c10::Symbol kind) {
  int count = 0;
  for (const torch::jit::Node* node : block.nodes()) {
    if (node->kind() == kind) ++count;
    for (const torch::jit::Block* sub_block : node->blocks()) {
      count += CountKindIn(*sub_block, kind);
    }
  }
  return count;
}

}  // namespace

std::shared_ptr<torch::jit::Graph> ParseGraph(
    const std::string& ir,
    std::unordered_map<std::string, torch::jit::Value*>* values) {
  auto graph = std::make_shared<torch::jit::Graph>();
  std::unordered_map<std::string, torch::jit::Value*> parsed;
  torch::jit::parseIR(ir, graph.get(), parsed);
  if (values != nullptr) *values = std::move(parsed);
  return graph;
}

torch::jit::Node* OnlyNode(torch::jit::Graph& graph,
                           const std::string& kind) {
  const auto symbol = c10::Symbol::fromQualString(kind);
  torch::jit::Node* found = nullptr;
  int count = 0;
  for (torch::jit::Node* node : graph.nodes()) {
    if (node->kind() != symbol) continue;
    found = node;
    ++count;
  }
  EXPECT_EQ(count, 1) << kind << " in\n" << graph;
  return count == 1 ? found : nullptr;
}

torch::jit::Module NewModule(const std::string& name) {
  torch::jit::Module module(name);
  module.register_attribute("training", c10::BoolType::get(), true);
  return module;
}

void BindConstants(torch::jit::Graph& graph,
                   const std::map<std::string, c10::IValue>& constants) {
  torch::jit::WithInsertPoint at_start(graph.block()->nodes().front());
  for (size_t i = graph.inputs().size(); i > 0; --i) {
    torch::jit::Value* input = graph.inputs()[i - 1];
    auto it = constants.find(input->debugName());
    if (it == constants.end()) continue;
    torch::jit::Value* constant = graph.insertConstant(it->second);
    input->replaceAllUsesWith(constant);
    graph.eraseInput(i - 1);
    constant->setDebugName(it->first);
  }
}

torch::jit::Module FreezeUnoptimized(torch::jit::Module module) {
  module.eval();
  return torch::jit::freeze_module(module);
}

std::shared_ptr<torch::jit::Graph> ForwardGraphCopy(
    const torch::jit::Module& module) {
  return module.get_method("forward").graph()->copy();
}

std::vector<c10::IValue> RunGraph(const std::shared_ptr<torch::jit::Graph>& graph,
                                  const std::vector<c10::IValue>& inputs) {
  torch::jit::Code code(graph, "kiln_pass_test");
  torch::jit::InterpreterState state(code);
  torch::jit::Stack stack(inputs);
  state.run(stack);
  return stack;
}

::testing::AssertionResult SameResults(
    const std::shared_ptr<torch::jit::Graph>& before,
    const std::shared_ptr<torch::jit::Graph>& after,
    const std::vector<c10::IValue>& inputs, double rtol, double atol) {
  const std::vector<c10::IValue> expected = RunGraph(before, inputs);
  const std::vector<c10::IValue> actual = RunGraph(after, inputs);
  if (expected.size() != 1 || actual.size() != 1 ||
      !expected[0].isTensor() || !actual[0].isTensor()) {
    return ::testing::AssertionFailure() << "expected one tensor output each";
  }
  const at::Tensor& e = expected[0].toTensor();
  const at::Tensor& a = actual[0].toTensor();
  if (e.sizes() != a.sizes()) {
    return ::testing::AssertionFailure()
           << "shapes differ: " << e.sizes() << " vs " << a.sizes();
  }
  if (!torch::allclose(a, e, rtol, atol, /*equal_nan=*/true)) {
    return ::testing::AssertionFailure()
           << "max abs difference " << (a - e).abs().max().item<double>()
           << " over rtol " << rtol << " atol " << atol;
  }
  return ::testing::AssertionSuccess();
}

int CountKind(const torch::jit::Graph& graph, const std::string& kind) {
  return CountKindIn(*graph.block(), c10::Symbol::fromQualString(kind));
}

}  // namespace kiln::engine::passes::testing

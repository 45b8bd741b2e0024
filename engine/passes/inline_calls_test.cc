#include "engine/passes/inline_calls.h"

#include <torch/csrc/jit/testing/file_check.h>
#include <torch/torch.h>

#include "engine/passes/graph_util.h"
#include "engine/passes/test_graphs.h"
#include "gtest/gtest.h"

namespace kiln::engine::passes {
namespace {

using ::kiln::engine::passes::testing::ForwardGraphCopy;
using ::kiln::engine::passes::testing::NewModule;
using ::kiln::engine::passes::testing::ParseGraph;
using ::kiln::engine::passes::testing::SameResults;
using ::torch::jit::testing::FileCheck;

// A parent whose forward() calls a child module and a free function: the
// graph holds prim::CallMethod and prim::CallFunction until inlined. (Calls
// cannot be written in textual IR - the callee is a Function object - so this
// IR test starts from a module.)
torch::jit::Module ModuleWithCalls() {
  torch::jit::Module child = NewModule("child");
  child.register_parameter("scale", torch::full({4}, 3.0), false);
  child.define(R"JIT(
    def forward(self, x):
        return torch.relu(x) * self.scale
  )JIT");
  torch::jit::Module parent = NewModule("parent");
  parent.register_module("child", child);
  parent.define(R"JIT(
    def shift(self, x):
        return x + 1.0

    def forward(self, x):
        return torch.sigmoid(self.shift(self.child.forward(x)))
  )JIT");
  parent.eval();
  return parent;
}

TEST(InlineCallsTest, OpensMethodCalls) {
  // Kept alive: the callees live in the module's compilation unit.
  torch::jit::Module module = ModuleWithCalls();
  auto graph = ForwardGraphCopy(module);
  FileCheck().check("prim::CallMethod")->run(*graph);

  EXPECT_TRUE(InlineCalls(graph));

  FileCheck()
      .check_not("prim::CallMethod")
      ->check("aten::relu")
      ->check("aten::mul")
      ->check("aten::add")
      ->check("aten::sigmoid")
      ->run(*graph);
}

TEST(InlineCallsTest, LeavesGraphWithoutCallsUnchanged) {
  auto graph = ParseGraph(R"IR(
    graph(%x : Tensor):
      %y : Tensor = aten::relu(%x)
      return (%y))IR");
  const std::string before = GraphText(*graph);

  EXPECT_FALSE(InlineCalls(graph));
  EXPECT_EQ(GraphText(*graph), before);
}

TEST(InlineCallsTest, KeepsNumerics) {
  torch::manual_seed(0);
  torch::jit::Module module = ModuleWithCalls();
  auto before = ForwardGraphCopy(module);
  auto after = before->copy();
  ASSERT_TRUE(InlineCalls(after));

  // The same ops in the same order: results are identical.
  EXPECT_TRUE(SameResults(before, after, {module._ivalue(), torch::randn({2, 4})},
                          /*rtol=*/0, /*atol=*/0));
}

}  // namespace
}  // namespace kiln::engine::passes

#include "engine/passes/remove_dropout.h"

#include <torch/csrc/jit/testing/file_check.h>
#include <torch/torch.h>

#include "engine/passes/graph_util.h"
#include "engine/passes/test_graphs.h"
#include "gtest/gtest.h"

namespace kiln::engine::passes {
namespace {

using ::kiln::engine::passes::testing::CountKind;
using ::kiln::engine::passes::testing::ForwardGraphCopy;
using ::kiln::engine::passes::testing::NewModule;
using ::kiln::engine::passes::testing::FreezeUnoptimized;
using ::kiln::engine::passes::testing::ParseGraph;
using ::kiln::engine::passes::testing::SameResults;
using ::torch::jit::testing::FileCheck;

TEST(RemoveDropoutTest, RemovesEvalDropoutOfEveryKind) {
  auto graph = ParseGraph(R"IR(
    graph(%x : Tensor):
      %p : float = prim::Constant[value=0.5]()
      %train : bool = prim::Constant[value=0]()
      %a : Tensor = aten::dropout(%x, %p, %train)
      %b : Tensor = aten::feature_dropout(%a, %p, %train)
      %c : Tensor = aten::dropout_(%b, %p, %train)
      %d : Tensor = aten::relu(%c)
      return (%d))IR");

  EXPECT_TRUE(RemoveEvalDropout(graph));

  FileCheck().check_not("dropout")->run(*graph);
  FileCheck().check("aten::relu(%x)")->run(*graph);
}

TEST(RemoveDropoutTest, KeepsTrainingOrUnknownDropout) {
  // train = true, or read at run time: dropout may zero elements.
  auto graph = ParseGraph(R"IR(
    graph(%x : Tensor, %train_at_run_time : bool):
      %p : float = prim::Constant[value=0.5]()
      %train : bool = prim::Constant[value=1]()
      %a : Tensor = aten::dropout(%x, %p, %train)
      %b : Tensor = aten::dropout(%a, %p, %train_at_run_time)
      return (%b))IR");
  const std::string before = GraphText(*graph);

  EXPECT_FALSE(RemoveEvalDropout(graph));
  EXPECT_EQ(GraphText(*graph), before);
}

TEST(RemoveDropoutTest, KeepsNumericsOfFrozenModule) {
  torch::manual_seed(0);
  torch::jit::Module module = NewModule("m");
  module.register_parameter("w", torch::randn({8, 8}), false);
  module.define(R"JIT(
    def forward(self, x):
        y = torch.dropout(torch.matmul(x, self.w), 0.5, self.training)
        return torch.feature_dropout(torch.relu(y), 0.2, self.training)
  )JIT");
  torch::jit::Module frozen = FreezeUnoptimized(module);
  auto before = ForwardGraphCopy(frozen);
  ASSERT_EQ(CountKind(*before, "aten::dropout"), 1) << *before;
  auto after = before->copy();

  ASSERT_TRUE(RemoveEvalDropout(after));
  EXPECT_EQ(CountKind(*after, "aten::dropout"), 0);
  EXPECT_EQ(CountKind(*after, "aten::feature_dropout"), 0);

  // Eval-mode dropout is the identity: results are identical.
  EXPECT_TRUE(SameResults(before, after,
                          {frozen._ivalue(), torch::randn({4, 3, 8})},
                          /*rtol=*/0, /*atol=*/0));
}

}  // namespace
}  // namespace kiln::engine::passes

#include "engine/passes/remove_mutation.h"

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

TEST(RemoveMutationTest, MakesInPlaceOpsOnFreshValuesFunctional) {
  // The residual-block shape: an in-place sum and activation on a value the
  // graph itself created.
  auto graph = ParseGraph(R"IR(
    graph(%x : Tensor):
      %two : int = prim::Constant[value=2]()
      %one : int = prim::Constant[value=1]()
      %y : Tensor = aten::mul(%x, %two)
      %sum : Tensor = aten::add_(%y, %x, %one)
      %out : Tensor = aten::relu_(%sum)
      return (%out))IR");

  EXPECT_TRUE(RemoveMutation(graph));

  FileCheck()
      .check_not("aten::add_")
      ->check_not("aten::relu_")
      ->run(*graph);
  FileCheck().check("aten::add(")->check("aten::relu(")->run(*graph);
}

TEST(RemoveMutationTest, KeepsMutationOfGraphInput) {
  // The caller sees its tensor change: the mutation is observable.
  auto graph = ParseGraph(R"IR(
    graph(%x : Tensor):
      %y : Tensor = aten::relu_(%x)
      %z : Tensor = aten::sigmoid(%y)
      return (%z))IR");
  const std::string before = GraphText(*graph);

  EXPECT_FALSE(RemoveMutation(graph));
  EXPECT_EQ(GraphText(*graph), before);
}

TEST(RemoveMutationTest, KeepsMutationThroughView) {
  // Mutating a view writes into its base; the base is used afterwards.
  auto graph = ParseGraph(R"IR(
    graph(%x : Tensor):
      %two : int = prim::Constant[value=2]()
      %zero : int = prim::Constant[value=0]()
      %base : Tensor = aten::mul(%x, %two)
      %view : Tensor = aten::select(%base, %zero, %zero)
      %r : Tensor = aten::relu_(%view)
      return (%base))IR");
  const std::string before = GraphText(*graph);

  EXPECT_FALSE(RemoveMutation(graph));
  EXPECT_EQ(GraphText(*graph), before);
}

TEST(RemoveMutationTest, KeepsNumericsOfFrozenResidualBlock) {
  torch::manual_seed(0);
  torch::jit::Module module = NewModule("m");
  module.register_parameter("w", torch::randn({4, 4, 3, 3}) * 0.2, false);
  module.register_parameter("b", torch::randn({4}), false);
  module.define(R"JIT(
    def forward(self, x):
        y = torch.conv2d(x, self.w, self.b, [1, 1], [1, 1])
        y.relu_()
        y += x
        return y.relu_()
  )JIT");
  torch::jit::Module frozen = FreezeUnoptimized(module);
  auto before = ForwardGraphCopy(frozen);
  ASSERT_EQ(CountKind(*before, "aten::relu_"), 2) << *before;
  auto after = before->copy();

  ASSERT_TRUE(RemoveMutation(after));
  EXPECT_EQ(CountKind(*after, "aten::relu_"), 0) << *after;
  EXPECT_EQ(CountKind(*after, "aten::add_"), 0) << *after;

  // The same kernels, out of place: results are identical.
  EXPECT_TRUE(SameResults(before, after,
                          {frozen._ivalue(), torch::randn({2, 4, 6, 6})},
                          /*rtol=*/0, /*atol=*/0));
}

}  // namespace
}  // namespace kiln::engine::passes

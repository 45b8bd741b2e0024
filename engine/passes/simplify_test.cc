#include "engine/passes/simplify.h"

#include <torch/csrc/jit/testing/file_check.h>
#include <torch/torch.h>

#include "engine/passes/graph_util.h"
#include "engine/passes/test_graphs.h"
#include "gtest/gtest.h"

namespace kiln::engine::passes {
namespace {

using ::kiln::engine::passes::testing::ParseGraph;
using ::kiln::engine::passes::testing::SameResults;
using ::torch::jit::testing::FileCheck;

// Constant arithmetic, a duplicated subexpression, a dead node and a list
// built from constants: everything simplify is for.
constexpr char kRedundantGraph[] = R"IR(
  graph(%x : Tensor):
    %two : int = prim::Constant[value=2]()
    %one : int = prim::Constant[value=1]()
    %four : int = aten::mul(%two, %two)
    %dims : int[] = prim::ListConstruct(%one, %four)
    %a : Tensor = aten::add(%x, %four, %one)
    %b : Tensor = aten::add(%x, %four, %one)
    %dead : Tensor = aten::sigmoid(%x)
    %prod : Tensor = aten::mul(%a, %b)
    %r : Tensor = aten::repeat(%prod, %dims)
    return (%r))IR";

TEST(SimplifyTest, FoldsConstantsAndRemovesDuplicatesAndDeadCode) {
  auto graph = ParseGraph(kRedundantGraph);

  EXPECT_TRUE(SimplifyGraph(graph));

  FileCheck().check_count("aten::add", 1, /*exactly=*/true)->run(*graph);
  FileCheck()
      .check_not("aten::sigmoid")
      ->check_not("prim::ListConstruct")
      ->run(*graph);
  FileCheck().check("int[] = prim::Constant[value=[1, 4]]")->run(*graph);
}

TEST(SimplifyTest, LeavesMinimalGraphUnchanged) {
  auto graph = ParseGraph(R"IR(
    graph(%x : Tensor, %y : Tensor):
      %one : int = prim::Constant[value=1]()
      %a : Tensor = aten::add(%x, %y, %one)
      %r : Tensor = aten::relu(%a)
      return (%r))IR");
  const std::string before = GraphText(*graph);

  EXPECT_FALSE(SimplifyGraph(graph));
  EXPECT_EQ(GraphText(*graph), before);
}

TEST(SimplifyTest, KeepsRandomness) {
  // aten::rand on constant sizes must not be evaluated once, at compile
  // time, into a constant.
  auto graph = ParseGraph(R"IR(
    graph(%x : Tensor):
      %none : NoneType = prim::Constant()
      %one : int = prim::Constant[value=1]()
      %sizes : int[] = prim::Constant[value=[2, 2]]()
      %noise : Tensor = aten::rand(%sizes, %none, %none, %none, %none)
      %r : Tensor = aten::add(%x, %noise, %one)
      return (%r))IR");

  SimplifyGraph(graph);

  FileCheck().check("aten::rand")->check("aten::add")->run(*graph);
}

TEST(SimplifyTest, KeepsNumerics) {
  torch::manual_seed(0);
  auto before = ParseGraph(kRedundantGraph);
  auto after = before->copy();
  ASSERT_TRUE(SimplifyGraph(after));

  EXPECT_TRUE(SameResults(before, after, {torch::randn({3, 5})},
                          /*rtol=*/0, /*atol=*/0));
}

}  // namespace
}  // namespace kiln::engine::passes

#include "engine/passes/normalize_convolution.h"

#include <torch/csrc/jit/testing/file_check.h>
#include <torch/torch.h>

#include <string>
#include <unordered_map>

#include "engine/passes/graph_util.h"
#include "engine/passes/test_graphs.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace kiln::engine::passes {
namespace {

using ::kiln::engine::passes::testing::BindConstants;
using ::kiln::engine::passes::testing::CountKind;
using ::kiln::engine::passes::testing::ForwardGraphCopy;
using ::kiln::engine::passes::testing::NewModule;
using ::kiln::engine::passes::testing::FreezeUnoptimized;
using ::kiln::engine::passes::testing::OnlyNode;
using ::kiln::engine::passes::testing::ParseGraph;
using ::kiln::engine::passes::testing::SameResults;
using ::testing::ElementsAre;
using ::torch::jit::testing::FileCheck;
using Values = std::unordered_map<std::string, torch::jit::Value*>;

TEST(NormalizeConvolutionTest, TracedConv2dBecomesConv2d) {
  // What torch.jit.trace records for nn.Conv2d: lists built in the graph,
  // weight an attribute read (here an input), rank told by the lists.
  Values v;
  auto graph = ParseGraph(R"IR(
    graph(%x : Tensor, %w : Tensor, %b : Tensor):
      %true : bool = prim::Constant[value=1]()
      %false : bool = prim::Constant[value=0]()
      %zero : int = prim::Constant[value=0]()
      %one : int = prim::Constant[value=1]()
      %two : int = prim::Constant[value=2]()
      %stride : int[] = prim::ListConstruct(%two, %two)
      %padding : int[] = prim::ListConstruct(%one, %one)
      %dilation : int[] = prim::ListConstruct(%one, %one)
      %output_padding : int[] = prim::ListConstruct(%zero, %zero)
      %y : Tensor = aten::_convolution(%x, %w, %b, %stride, %padding, %dilation, %false, %output_padding, %one, %false, %false, %true, %true)
      %r : Tensor = aten::relu(%y)
      return (%r))IR",
                          &v);

  EXPECT_TRUE(NormalizeConvolution(graph));

  FileCheck().check_not("aten::_convolution")->check("aten::conv2d")->run(
      *graph);
  torch::jit::Node* conv = OnlyNode(*graph, "aten::conv2d");
  ASSERT_NE(conv, nullptr);
  EXPECT_THAT(conv->inputs(),
              ElementsAre(v["x"], v["w"], v["b"], v["stride"], v["padding"],
                          v["dilation"], v["one"]));
  EXPECT_EQ(OnlyNode(*graph, "aten::relu")->input(0), conv->output());
}

TEST(NormalizeConvolutionTest, RankComesFromConstantWeight) {
  // Stride given at length 1 (LibTorch expands it); the weight says 1-d.
  Values v;
  auto graph = ParseGraph(R"IR(
    graph(%x : Tensor, %w : Tensor):
      %none : NoneType = prim::Constant()
      %false : bool = prim::Constant[value=0]()
      %one : int = prim::Constant[value=1]()
      %ones : int[] = prim::Constant[value=[1]]()
      %zeros : int[] = prim::Constant[value=[0]]()
      %y : Tensor = aten::_convolution(%x, %w, %none, %ones, %zeros, %ones, %false, %zeros, %one, %false, %false, %false, %false)
      return (%y))IR",
                          &v);
  BindConstants(*graph, {{"w", torch::randn({4, 3, 5})}});

  EXPECT_TRUE(NormalizeConvolution(graph));

  FileCheck().check_not("aten::_convolution")->check("aten::conv1d")->run(
      *graph);
  torch::jit::Node* conv = OnlyNode(*graph, "aten::conv1d");
  ASSERT_NE(conv, nullptr);
  EXPECT_EQ(conv->input(0), v["x"]);
  EXPECT_EQ(conv->input(2), v["none"]);
  EXPECT_THAT(conv->inputs().slice(3),
              ElementsAre(v["ones"], v["zeros"], v["ones"], v["one"]));
}

TEST(NormalizeConvolutionTest, TransposedBecomesConvTransposeWithItsArgOrder) {
  Values v;
  auto graph = ParseGraph(R"IR(
    graph(%x : Tensor, %w : Tensor, %b : Tensor):
      %true : bool = prim::Constant[value=1]()
      %false : bool = prim::Constant[value=0]()
      %groups : int = prim::Constant[value=1]()
      %stride : int[] = prim::Constant[value=[2, 2]]()
      %padding : int[] = prim::Constant[value=[1, 1]]()
      %dilation : int[] = prim::Constant[value=[1, 1]]()
      %output_padding : int[] = prim::Constant[value=[1, 1]]()
      %y : Tensor = aten::_convolution(%x, %w, %b, %stride, %padding, %dilation, %true, %output_padding, %groups, %false, %false, %true, %true)
      return (%y))IR",
                          &v);

  EXPECT_TRUE(NormalizeConvolution(graph));

  FileCheck().check_not("aten::_convolution")->run(*graph);
  torch::jit::Node* conv = OnlyNode(*graph, "aten::conv_transpose2d");
  ASSERT_NE(conv, nullptr);
  EXPECT_THAT(conv->inputs(),
              ElementsAre(v["x"], v["w"], v["b"], v["stride"], v["padding"],
                          v["output_padding"], v["groups"], v["dilation"]));
}

TEST(NormalizeConvolutionTest, LeavesWhatItCannotProveAlone) {
  auto graph = ParseGraph(R"IR(
    graph(%x : Tensor, %w : Tensor, %transposed : bool):
      %none : NoneType = prim::Constant()
      %false : bool = prim::Constant[value=0]()
      %one : int = prim::Constant[value=1]()
      %pair : int[] = prim::Constant[value=[1, 1]]()
      %single : int[] = prim::Constant[value=[1]]()
      %zeros : int[] = prim::Constant[value=[0, 0]]()
      %a : Tensor = aten::_convolution(%x, %w, %none, %pair, %pair, %pair, %transposed, %zeros, %one, %false, %false, %false, %false)
      %b : Tensor = aten::_convolution(%a, %w, %none, %pair, %pair, %pair, %false, %pair, %one, %false, %false, %false, %false)
      %c : Tensor = aten::_convolution(%b, %w, %none, %single, %pair, %pair, %false, %zeros, %one, %false, %false, %false, %false)
      return (%c))IR");
  // %a: `transposed` known only at run time. %b: not transposed but with a
  // non-zero output_padding. %c: stride and padding disagree on the rank and
  // neither the weight nor the input tells it.
  const std::string before = GraphText(*graph);

  EXPECT_FALSE(NormalizeConvolution(graph));
  EXPECT_EQ(GraphText(*graph), before);
}

TEST(NormalizeConvolutionTest, KeepsNumericsOfFrozenModule) {
  torch::manual_seed(0);
  torch::jit::Module module = NewModule("m");
  module.register_parameter("w1", torch::randn({6, 3, 3}), false);
  module.register_parameter("w2", torch::randn({8, 3, 3, 3}), false);
  module.register_parameter("b2", torch::randn({8}), false);
  module.register_parameter("w3", torch::randn({8, 2, 3, 3}), false);
  module.register_parameter("b3", torch::randn({4}), false);
  module.define(R"JIT(
    def forward(self, x):
        seq = torch._convolution(x.flatten(2), self.w1, None, [1], [1], [2],
                                 False, [0], 1, False, False, True, True)
        y = torch._convolution(x, self.w2, self.b2, [1, 2], [1, 1], [1, 1],
                               False, [0, 0], 1, False, False, True, True)
        z = torch._convolution(y, self.w3, self.b3, [2, 2], [1, 1], [1, 1],
                               True, [1, 1], 2, False, False, True, True)
        return torch.cat([z.flatten(), seq.flatten()])
  )JIT");
  torch::jit::Module frozen = FreezeUnoptimized(module);
  auto before = ForwardGraphCopy(frozen);
  ASSERT_EQ(CountKind(*before, "aten::_convolution"), 3) << *before;
  auto after = before->copy();

  ASSERT_TRUE(NormalizeConvolution(after));
  EXPECT_EQ(CountKind(*after, "aten::_convolution"), 0) << *after;
  EXPECT_EQ(CountKind(*after, "aten::conv1d"), 1) << *after;
  EXPECT_EQ(CountKind(*after, "aten::conv2d"), 1) << *after;
  EXPECT_EQ(CountKind(*after, "aten::conv_transpose2d"), 1) << *after;

  // The same convolution kernels are reached: only summation order may
  // differ if a different algorithm is picked.
  EXPECT_TRUE(SameResults(before, after,
                          {frozen._ivalue(), torch::randn({2, 3, 10, 10})},
                          /*rtol=*/1e-5, /*atol=*/1e-4));
}

}  // namespace
}  // namespace kiln::engine::passes

#include "engine/passes/fold_frozen_conv.h"

#include <torch/csrc/jit/testing/file_check.h>
#include <torch/torch.h>

#include <map>
#include <string>

#include "engine/passes/graph_util.h"
#include "engine/passes/test_graphs.h"
#include "gtest/gtest.h"

namespace kiln::engine::passes {
namespace {

using ::kiln::engine::passes::testing::BindConstants;
using ::kiln::engine::passes::testing::CountKind;
using ::kiln::engine::passes::testing::ForwardGraphCopy;
using ::kiln::engine::passes::testing::NewModule;
using ::kiln::engine::passes::testing::FreezeUnoptimized;
using ::kiln::engine::passes::testing::ParseGraph;
using ::kiln::engine::passes::testing::SameResults;
using ::torch::jit::testing::FileCheck;

// fp32 folding reorders multiplications of the weights.
constexpr double kRtol = 1e-4;
constexpr double kAtol = 1e-5;

// conv -> batch norm -> mul -> add -> relu, with the weights as inputs
// that BindConstants turns into constants (a frozen graph's weights).
// %train decides whether batch norm uses batch statistics.
constexpr char kConvChain[] = R"IR(
  graph(%x : Tensor, %w : Tensor, %b : Tensor, %gamma : Tensor,
        %beta : Tensor, %mean : Tensor, %var : Tensor, %scale : Tensor,
        %shift : Tensor):
    %stride : int[] = prim::Constant[value=[1, 1]]()
    %padding : int[] = prim::Constant[value=[1, 1]]()
    %dilation : int[] = prim::Constant[value=[1, 1]]()
    %groups : int = prim::Constant[value=1]()
    %train : bool = prim::Constant[value=0]()
    %momentum : float = prim::Constant[value=0.1]()
    %eps : float = prim::Constant[value=1.0000000000000001e-05]()
    %alpha : int = prim::Constant[value=1]()
    %conv : Tensor = aten::conv2d(%x, %w, %b, %stride, %padding, %dilation, %groups)
    %bn : Tensor = aten::batch_norm(%conv, %gamma, %beta, %mean, %var, %train, %momentum, %eps, %train)
    %scaled : Tensor = aten::mul(%bn, %scale)
    %shifted : Tensor = aten::add(%scaled, %shift, %alpha)
    %r : Tensor = aten::relu(%shifted)
    return (%r))IR";

std::map<std::string, c10::IValue> ChainWeights(int64_t channels) {
  return {
      {"w", torch::randn({channels, 3, 3, 3})},
      {"b", torch::randn({channels})},
      {"gamma", torch::randn({channels})},
      {"beta", torch::randn({channels})},
      {"mean", torch::randn({channels})},
      {"var", torch::rand({channels}) + 0.5},
      {"scale", torch::randn({1, channels, 1, 1})},
      {"shift", torch::randn({1, channels, 1, 1})},
  };
}

TEST(FoldFrozenConvTest, FoldsBatchNormMulAndAddIntoConv) {
  torch::manual_seed(0);
  auto graph = ParseGraph(kConvChain);
  BindConstants(*graph, ChainWeights(4));

  EXPECT_TRUE(FoldFrozenConvolutions(graph));

  FileCheck()
      .check("aten::conv2d")
      ->check_not("aten::batch_norm")
      ->check_not("aten::mul")
      ->check_not("aten::add")
      ->check("aten::relu")
      ->run(*graph);
}

TEST(FoldFrozenConvTest, LeavesNonConstantWeightsAlone) {
  // An unfrozen graph: the weights are not constants.
  auto graph = ParseGraph(kConvChain);
  const std::string before = GraphText(*graph);

  EXPECT_FALSE(FoldFrozenConvolutions(graph));
  EXPECT_EQ(GraphText(*graph), before);
}

TEST(FoldFrozenConvTest, LeavesTrainingModeBatchNormAlone) {
  // training = true: batch norm normalizes with the batch's own statistics,
  // which no weight can hold. (mul and add after it still cannot fold: the
  // batch norm sits between them and the conv.)
  std::string ir = kConvChain;
  const std::string eval_flag = "%train : bool = prim::Constant[value=0]()";
  ir.replace(ir.find(eval_flag), eval_flag.size(),
             "%train : bool = prim::Constant[value=1]()");
  auto graph = ParseGraph(ir);
  BindConstants(*graph, ChainWeights(4));
  const std::string before = GraphText(*graph);

  EXPECT_FALSE(FoldFrozenConvolutions(graph));
  EXPECT_EQ(GraphText(*graph), before);
}

TEST(FoldFrozenConvTest, LeavesConvWithSecondUserAlone) {
  // The conv's output is also returned: folding would change it.
  auto graph = ParseGraph(R"IR(
    graph(%x : Tensor, %w : Tensor, %gamma : Tensor, %beta : Tensor,
          %mean : Tensor, %var : Tensor):
      %none : NoneType = prim::Constant()
      %stride : int[] = prim::Constant[value=[1, 1]]()
      %padding : int[] = prim::Constant[value=[0, 0]]()
      %groups : int = prim::Constant[value=1]()
      %false : bool = prim::Constant[value=0]()
      %momentum : float = prim::Constant[value=0.1]()
      %eps : float = prim::Constant[value=1.0000000000000001e-05]()
      %conv : Tensor = aten::conv2d(%x, %w, %none, %stride, %padding, %stride, %groups)
      %bn : Tensor = aten::batch_norm(%conv, %gamma, %beta, %mean, %var, %false, %momentum, %eps, %false)
      %both : (Tensor, Tensor) = prim::TupleConstruct(%conv, %bn)
      return (%both))IR");
  BindConstants(*graph, {{"w", torch::randn({4, 3, 3, 3})},
                         {"gamma", torch::randn({4})},
                         {"beta", torch::randn({4})},
                         {"mean", torch::randn({4})},
                         {"var", torch::rand({4}) + 0.5}});
  const std::string before = GraphText(*graph);

  EXPECT_FALSE(FoldFrozenConvolutions(graph));
  EXPECT_EQ(GraphText(*graph), before);
}

TEST(FoldFrozenConvTest, KeepsNumericsOfParsedChain) {
  torch::manual_seed(1);
  auto before = ParseGraph(kConvChain);
  BindConstants(*before, ChainWeights(6));
  auto after = before->copy();
  ASSERT_TRUE(FoldFrozenConvolutions(after));

  EXPECT_TRUE(SameResults(before, after, {torch::randn({2, 3, 9, 9})}, kRtol,
                          kAtol));
}

TEST(FoldFrozenConvTest, KeepsNumericsOfFrozenTracedStyleModule) {
  // aten::_convolution, as traced models spell it, folds too.
  torch::manual_seed(2);
  torch::jit::Module module = NewModule("m");
  module.register_parameter("w", torch::randn({8, 3, 3, 3}), false);
  module.register_parameter("b", torch::randn({8}), false);
  module.register_parameter("gamma", torch::randn({8}), false);
  module.register_parameter("beta", torch::randn({8}), false);
  module.register_buffer("mean", torch::randn({8}));
  module.register_buffer("var", torch::rand({8}) + 0.5);
  module.define(R"JIT(
    def forward(self, x):
        y = torch._convolution(x, self.w, self.b, [2, 2], [1, 1], [1, 1],
                               False, [0, 0], 1, False, False, True, True)
        y = torch.batch_norm(y, self.gamma, self.beta, self.mean, self.var,
                             self.training, 0.1, 1e-5, False)
        return y / 3.0
  )JIT");
  torch::jit::Module frozen = FreezeUnoptimized(module);
  auto before = ForwardGraphCopy(frozen);
  ASSERT_EQ(CountKind(*before, "aten::batch_norm"), 1) << *before;
  auto after = before->copy();

  ASSERT_TRUE(FoldFrozenConvolutions(after));
  EXPECT_EQ(CountKind(*after, "aten::batch_norm"), 0) << *after;
  EXPECT_EQ(CountKind(*after, "aten::div"), 0) << *after;

  EXPECT_TRUE(SameResults(before, after,
                          {frozen._ivalue(), torch::randn({2, 3, 16, 16})},
                          kRtol, kAtol));
}

}  // namespace
}  // namespace kiln::engine::passes

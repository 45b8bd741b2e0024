#include "engine/passes/normalize_activations.h"

#include <torch/csrc/jit/testing/file_check.h>
#include <torch/torch.h>

#include <limits>
#include <string>
#include <unordered_map>

#include "engine/passes/graph_util.h"
#include "engine/passes/test_graphs.h"
#include "gtest/gtest.h"

namespace kiln::engine::passes {
namespace {

using ::kiln::engine::passes::testing::CountKind;
using ::kiln::engine::passes::testing::ForwardGraphCopy;
using ::kiln::engine::passes::testing::NewModule;
using ::kiln::engine::passes::testing::FreezeUnoptimized;
using ::kiln::engine::passes::testing::OnlyNode;
using ::kiln::engine::passes::testing::ParseGraph;
using ::kiln::engine::passes::testing::SameResults;
using ::torch::jit::testing::FileCheck;

TEST(NormalizeActivationsTest, HardtanhZeroToSixBecomesRelu6) {
  // Float bounds as nn.ReLU6 leaves them, int bounds as hand-written code may.
  std::unordered_map<std::string, torch::jit::Value*> v;
  auto graph = ParseGraph(R"IR(
    graph(%x : Tensor):
      %zero : float = prim::Constant[value=0.]()
      %six : float = prim::Constant[value=6.]()
      %izero : int = prim::Constant[value=0]()
      %isix : int = prim::Constant[value=6]()
      %a : Tensor = aten::hardtanh(%x, %zero, %six)
      %b : Tensor = aten::hardtanh(%a, %izero, %isix)
      %r : Tensor = aten::sigmoid(%b)
      return (%r))IR",
                          &v);

  EXPECT_TRUE(NormalizeActivations(graph));

  FileCheck().check_not("aten::hardtanh")->run(*graph);
  FileCheck().check("aten::relu6(%x)")->check("aten::relu6")->run(*graph);
  // The chain is kept: relu6(relu6(x)) feeds the sigmoid.
  torch::jit::Value* second = OnlyNode(*graph, "aten::sigmoid")->input(0);
  ASSERT_EQ(second->node()->kind().toQualString(), std::string("aten::relu6"));
  EXPECT_EQ(second->node()->input(0)->node()->kind().toQualString(),
            std::string("aten::relu6"));
}

TEST(NormalizeActivationsTest, LeavesOtherHardtanhsAlone) {
  // Other bounds, bounds known only at run time, and the in-place form.
  auto graph = ParseGraph(R"IR(
    graph(%x : Tensor, %high : float):
      %minus_one : float = prim::Constant[value=-1.]()
      %one : float = prim::Constant[value=1.]()
      %zero : float = prim::Constant[value=0.]()
      %almost_six : float = prim::Constant[value=5.9999]()
      %six : float = prim::Constant[value=6.]()
      %a : Tensor = aten::hardtanh(%x, %minus_one, %one)
      %b : Tensor = aten::hardtanh(%a, %zero, %almost_six)
      %c : Tensor = aten::hardtanh(%b, %zero, %high)
      %d : Tensor = aten::mul(%c, %one)
      %e : Tensor = aten::hardtanh_(%d, %zero, %six)
      return (%e))IR");
  const std::string before = GraphText(*graph);

  EXPECT_FALSE(NormalizeActivations(graph));
  EXPECT_EQ(GraphText(*graph), before);
}

TEST(NormalizeActivationsTest, KeepsNumericsOfFrozenModule) {
  torch::jit::Module module = NewModule("m");
  module.register_parameter("scale", torch::full({1}, 4.0), false);
  module.define(R"JIT(
    def forward(self, x):
        return torch.hardtanh(x * self.scale, 0.0, 6.0)
  )JIT");
  torch::jit::Module frozen = FreezeUnoptimized(module);
  auto before = ForwardGraphCopy(frozen);
  ASSERT_EQ(CountKind(*before, "aten::hardtanh"), 1) << *before;
  auto after = before->copy();
  ASSERT_TRUE(NormalizeActivations(after));
  ASSERT_EQ(CountKind(*after, "aten::relu6"), 1) << *after;

  // The edges of the clamp, values beyond them, and NaN: relu6 is
  // hardtanh(x, 0, 6) in LibTorch, so results are identical.
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const torch::Tensor x = torch::tensor(
      {-3.f, -0.f, 0.f, 0.1f, 1.5f, 1.4999f, 2.f, 100.f, nan});
  EXPECT_TRUE(SameResults(before, after, {frozen._ivalue(), x},
                          /*rtol=*/0, /*atol=*/0));
}

}  // namespace
}  // namespace kiln::engine::passes

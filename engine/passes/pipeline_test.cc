#include "engine/passes/pipeline.h"

#include <torch/csrc/jit/testing/file_check.h>
#include <torch/torch.h>

#include <map>

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
using ::kiln::engine::passes::testing::ParseGraph;
using ::kiln::engine::passes::testing::RunGraph;
using ::kiln::engine::passes::testing::SameResults;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::torch::jit::testing::FileCheck;

// fp32 conv/batch-norm folding.
constexpr double kRtol = 1e-4;
constexpr double kAtol = 1e-5;

// A residual block as traced torchvision models have it: traced-style
// convolution, batch norm, in-place ReLU, dropout, in-place residual sum, a
// ReLU6 spelled hardtanh - with the conv body in a submodule.
torch::jit::Module ResidualBlock() {
  torch::jit::Module body = NewModule("body");
  body.register_parameter("w1", torch::randn({8, 8, 3, 3}) * 0.2, false);
  body.register_parameter("g1", torch::rand({8}) + 0.5, false);
  body.register_parameter("b1", torch::randn({8}), false);
  body.register_buffer("m1", torch::randn({8}) * 0.1);
  body.register_buffer("v1", torch::rand({8}) + 0.5);
  body.register_parameter("w2", torch::randn({8, 8, 3, 3}) * 0.2, false);
  body.register_parameter("c2", torch::randn({8}), false);
  body.register_parameter("g2", torch::rand({8}) + 0.5, false);
  body.register_parameter("b2", torch::randn({8}), false);
  body.register_buffer("m2", torch::randn({8}) * 0.1);
  body.register_buffer("v2", torch::rand({8}) + 0.5);
  body.define(R"JIT(
    def forward(self, x):
        y = torch._convolution(x, self.w1, None, [1, 1], [1, 1], [1, 1],
                               False, [0, 0], 1, False, False, True, True)
        y = torch.batch_norm(y, self.g1, self.b1, self.m1, self.v1,
                             self.training, 0.1, 1e-5, False)
        y = torch.relu_(y)
        y = torch.dropout(y, 0.3, self.training)
        y = torch.conv2d(y, self.w2, self.c2, [1, 1], [1, 1])
        return torch.batch_norm(y, self.g2, self.b2, self.m2, self.v2,
                                self.training, 0.1, 1e-5, False)
  )JIT");
  torch::jit::Module block = NewModule("block");
  block.register_module("body", body);
  block.define(R"JIT(
    def forward(self, x):
        out = self.body.forward(x)
        out += x
        out = torch.relu_(out)
        return torch.hardtanh(out, 0.0, 6.0)
  )JIT");
  block.eval();
  return block;
}

TEST(PipelineTest, OrderListsEveryPassAndSkipsFoldingWhenUnfrozen) {
  EXPECT_THAT(PipelineOrder(PipelineOptions{}),
              ElementsAre("inline_calls", "remove_dropout", "remove_mutation",
                          "simplify", "fold_frozen_conv",
                          "normalize_convolution", "normalize_activations",
                          "final_simplify"));
  PipelineOptions unfrozen;
  unfrozen.frozen = false;
  EXPECT_THAT(PipelineOrder(unfrozen),
              ElementsAre("inline_calls", "remove_dropout", "remove_mutation",
                          "simplify", "normalize_convolution",
                          "normalize_activations", "final_simplify"));
}

TEST(PipelineTest, OptimizesFrozenResidualBlockInPlace) {
  torch::manual_seed(0);
  torch::jit::Module frozen = FreezeUnoptimized(ResidualBlock());
  // The module's own graph: the pipeline must change it where it lives.
  std::shared_ptr<torch::jit::Graph> graph =
      frozen.get_method("forward").graph();
  const torch::jit::Graph* graph_object = graph.get();
  auto reference = graph->copy();
  ASSERT_EQ(CountKind(*reference, "aten::batch_norm"), 2) << *reference;
  ASSERT_EQ(CountKind(*reference, "aten::dropout"), 1) << *reference;

  std::vector<PassRecord> records;
  ASSERT_TRUE(RunPipeline(graph, PipelineOptions{}, &records).ok());

  EXPECT_EQ(graph.get(), graph_object);
  for (const char* gone :
       {"aten::batch_norm", "aten::dropout", "aten::relu_", "aten::add_",
        "aten::_convolution", "aten::hardtanh"}) {
    EXPECT_EQ(CountKind(*graph, gone), 0) << gone << " left in\n" << *graph;
  }
  FileCheck()
      .check("aten::conv2d")
      ->check("aten::relu(")
      ->check("aten::conv2d")
      ->check("aten::add(")
      ->check("aten::relu(")
      ->check("aten::relu6(")
      ->run(*graph);

  std::vector<std::string> names;
  for (const PassRecord& record : records) {
    names.push_back(record.name);
    EXPECT_LE(record.nodes_after, record.nodes_before) << record.name;
    EXPECT_GE(record.milliseconds, 0) << record.name;
  }
  EXPECT_EQ(names, PipelineOrder(PipelineOptions{}));
  for (const PassRecord& record : records) {
    if (record.name == "remove_dropout" || record.name == "remove_mutation" ||
        record.name == "fold_frozen_conv" ||
        record.name == "normalize_convolution" ||
        record.name == "normalize_activations") {
      EXPECT_TRUE(record.changed) << record.name;
    }
  }

  const torch::Tensor x = torch::randn({2, 8, 12, 12});
  EXPECT_TRUE(SameResults(reference, graph, {frozen._ivalue(), x}, kRtol,
                          kAtol));
  // The module still runs, on its graph rewritten in place.
  const torch::Tensor expected =
      RunGraph(reference, {frozen._ivalue(), x})[0].toTensor();
  EXPECT_TRUE(torch::allclose(frozen.forward({x}).toTensor(), expected, kRtol,
                              kAtol));
}

TEST(PipelineTest, UnfrozenGraphSkipsFoldingAndKeepsNumerics) {
  torch::manual_seed(1);
  torch::jit::Module module = ResidualBlock();
  auto graph = ForwardGraphCopy(module);
  auto reference = graph->copy();

  PipelineOptions options;
  options.frozen = false;
  std::vector<PassRecord> records;
  ASSERT_TRUE(RunPipeline(graph, options, &records).ok());

  for (const PassRecord& record : records) {
    EXPECT_NE(record.name, "fold_frozen_conv");
  }
  EXPECT_EQ(records.size(), PipelineOrder(options).size());
  // Inlined, but batch norm stays: its parameters are attribute reads.
  EXPECT_EQ(CountKind(*graph, "prim::CallMethod"), 0) << *graph;
  EXPECT_EQ(CountKind(*graph, "aten::batch_norm"), 2) << *graph;
  EXPECT_EQ(CountKind(*graph, "aten::relu6"), 1) << *graph;

  EXPECT_TRUE(SameResults(reference, graph,
                          {module._ivalue(), torch::randn({1, 8, 7, 7})},
                          /*rtol=*/1e-5, /*atol=*/1e-6));
}

TEST(PipelineTest, FailingPassLeavesGraphAsItWas) {
  // Batch-norm statistics for 5 channels after a 4-channel conv: the graph
  // parses, but folding them into the weights throws inside LibTorch.
  auto graph = ParseGraph(R"IR(
    graph(%x : Tensor, %w : Tensor, %mean : Tensor, %var : Tensor):
      %none : NoneType = prim::Constant()
      %stride : int[] = prim::Constant[value=[1, 1]]()
      %padding : int[] = prim::Constant[value=[0, 0]]()
      %groups : int = prim::Constant[value=1]()
      %false : bool = prim::Constant[value=0]()
      %momentum : float = prim::Constant[value=0.1]()
      %eps : float = prim::Constant[value=1.0000000000000001e-05]()
      %conv : Tensor = aten::conv2d(%x, %w, %none, %stride, %padding, %stride, %groups)
      %bn : Tensor = aten::batch_norm(%conv, %none, %none, %mean, %var, %false, %momentum, %eps, %false)
      %r : Tensor = aten::relu_(%bn)
      return (%r))IR");
  BindConstants(*graph, {{"w", torch::randn({4, 3, 3, 3})},
                         {"mean", torch::zeros({5})},
                         {"var", torch::ones({5})}});
  const std::string before = GraphText(*graph);

  std::vector<PassRecord> records;
  const absl::Status status = RunPipeline(graph, PipelineOptions{}, &records);

  EXPECT_EQ(status.code(), absl::StatusCode::kInternal);
  EXPECT_THAT(std::string(status.message()), HasSubstr("fold_frozen_conv"));
  EXPECT_EQ(GraphText(*graph), before);
  ASSERT_EQ(records.size(), 4u);
  EXPECT_EQ(records.back().name, "simplify");
}

TEST(PipelineTest, RecordsMayBeNull) {
  auto graph = ParseGraph(R"IR(
    graph(%x : Tensor):
      %y : Tensor = aten::relu(%x)
      return (%y))IR");
  const std::string before = GraphText(*graph);

  EXPECT_TRUE(RunPipeline(graph, PipelineOptions{}, nullptr).ok());
  EXPECT_EQ(GraphText(*graph), before);
}

}  // namespace
}  // namespace kiln::engine::passes

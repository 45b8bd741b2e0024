// The accuracy checker's failure path: a wrong lowering (injected through the
// IR hook) must be caught, rebuilt at fp32 when only bf16 is wrong, and left
// to TorchScript when fp32 is wrong too - with the model's result still
// matching the reference.
#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "engine/compiler.h"
#include "engine/segment/compiled_graph.h"
#include "engine/segment/test_modules.h"

namespace kiln::engine::segment {
namespace {

using ::testing::HasSubstr;

constexpr char kSource[] =
    "def forward(self, x):\n"
    "  y = torch.relu(torch.conv2d(x, self.w, self.b, [1, 1], [1, 1], [1, 1], 1))\n"
    "  return torch.max_pool2d(y, [2, 2], [2, 2], [0, 0], [1, 1], False)\n";

FrozenModel Model() {
  torch::manual_seed(1);
  return MakeFrozenModel(kSource, {{"w", torch::randn({8, 3, 3, 3})}, {"b", torch::randn({8})}});
}

// A wrong lowering: the conv's activation becomes a sigmoid.
void BreakActivations(plan::Graph& graph) {
  for (plan::Node& node : graph.nodes) {
    for (plan::PostOp& p : node.post_ops) {
      if (p.kind == plan::PostOp::Kind::kUnary) p.unary.function = plan::Unary::kSigmoid;
    }
  }
}

// Another wrong lowering, one that keeps every post-op: biases shifted by 1.
void BreakBiases(plan::Graph& graph) {
  for (plan::Node& node : graph.nodes) {
    if (node.kind != plan::OpKind::kConv || !node.conv.has_bias) continue;
    std::vector<float> shifted(node.conv.bias.data,
                               node.conv.bias.data + node.conv.bias.elements());
    for (float& b : shifted) b += 1.0f;
    node.conv.bias = plan::Constant::Own(node.conv.bias.dims, std::move(shifted));
  }
}

TEST(AccuracyFallback, WrongFp32LoweringLeavesTheSegmentToTorchScript) {
  c10::InferenceMode guard;
  FrozenModel model = Model();
  const std::vector<at::Tensor> inputs = {torch::randn({1, 3, 10, 10})};
  CompilerOptions options;
  options.speed_check = false;  // these tests are about accuracy; tiny plans may lose on speed
  options.precision = PrecisionPolicy::kFp32;
  options.ir_hook = [](plan::Graph& g, const plan::BuildOptions&) { BreakActivations(g); };
  auto plan = BuildKeyPlan(model.graph, model.Stack(inputs), options);
  ASSERT_TRUE(plan.ok()) << plan.status();
  // The segment failed its check, so the plan compiled nothing and the
  // signature runs the reference.
  EXPECT_EQ((*plan)->graph, nullptr);
  ASSERT_FALSE((*plan)->attempts.empty());
  EXPECT_THAT((*plan)->attempts[0], HasSubstr("nothing compiled"));

  // The same build through CompiledGraph shows why.
  CompileOptions compile;
  compile.ir_hook = options.ir_hook;
  std::vector<c10::IValue> reference;
  auto graph = CompiledGraph::Build(model.graph, model.Stack(inputs), compile, &reference);
  ASSERT_TRUE(graph.ok());
  const PlanReport& report = (*graph)->report();
  ASSERT_EQ(report.segments.size(), 1u);
  EXPECT_FALSE(report.segments[0].check.passed);
  EXPECT_THAT(report.segments[0].left_reason, HasSubstr("accuracy check"));
  EXPECT_FALSE(report.left.empty());
  // Running it still gives the reference result: nothing was replaced.
  const at::Tensor got = (*graph)->Run(model.Stack(inputs)).at(0).toTensor();
  EXPECT_TRUE(at::allclose(got, reference.at(0).toTensor()));
}

TEST(AccuracyFallback, WrongBf16LoweringIsRebuiltInFp32) {
  c10::InferenceMode guard;
  FrozenModel model = Model();
  const std::vector<at::Tensor> inputs = {torch::randn({1, 3, 10, 10})};
  CompilerOptions options;
  options.speed_check = false;  // these tests are about accuracy; tiny plans may lose on speed
  options.precision = PrecisionPolicy::kBf16;
  options.ir_hook = [](plan::Graph& g, const plan::BuildOptions& build) {
    if (build.precision == plan::PlanPrecision::kBf16) BreakActivations(g);
  };
  auto plan = BuildKeyPlan(model.graph, model.Stack(inputs), options);
  ASSERT_TRUE(plan.ok()) << plan.status();
  ASSERT_NE((*plan)->graph, nullptr);
  EXPECT_EQ((*plan)->precision, "fp32");
  const PlanReport& report = (*plan)->graph->report();
  ASSERT_EQ(report.segments.size(), 1u);
  ASSERT_EQ(report.segments[0].retries.size(), 1u);
  EXPECT_THAT(report.segments[0].retries[0], HasSubstr("bf16 failed the accuracy check"));
  EXPECT_TRUE((*plan)->final_check.passed);
  const at::Tensor got = (*plan)->graph->Run(model.Stack(inputs)).at(0).toTensor();
  EXPECT_TRUE(at::allclose(got, (*plan)->reference_outputs.at(0).toTensor(), 1e-4, 1e-5));
}

// A plan that fails its check with Winograd convolutions is rebuilt at the
// same precision without them before any other fallback.
TEST(AccuracyFallback, FailureWithWinogradIsRebuiltWithoutIt) {
  c10::InferenceMode guard;
  torch::manual_seed(2);
  FrozenModel model = MakeFrozenModel(
      "def forward(self, x):\n"
      "  return torch.relu(torch.conv2d(x, self.w, self.b, [1, 1], [1, 1], [1, 1], 1))\n",
      {{"w", torch::randn({16, 16, 3, 3})}, {"b", torch::randn({16})}});
  const std::vector<at::Tensor> inputs = {torch::randn({1, 16, 10, 10})};
  CompileOptions compile;
  compile.precision = plan::PlanPrecision::kBf16;
  compile.winograd = plan::WinogradUse::kAlways;
  // Wrong only where Winograd may be used: what a Winograd rounding problem
  // looks like to the checker.
  compile.ir_hook = [](plan::Graph& g, const plan::BuildOptions& build) {
    if (build.winograd != plan::WinogradUse::kOff) BreakBiases(g);
  };
  std::vector<c10::IValue> reference;
  auto graph = CompiledGraph::Build(model.graph, model.Stack(inputs), compile, &reference);
  ASSERT_TRUE(graph.ok()) << graph.status();
  const PlanReport& report = (*graph)->report();
  ASSERT_EQ(report.segments.size(), 1u);
  const SegmentSummary& segment = report.segments[0];
  ASSERT_EQ(segment.retries.size(), 1u);
  EXPECT_THAT(segment.retries[0], HasSubstr("bf16 (Winograd) failed the accuracy check"));
  EXPECT_EQ(segment.precision, "bf16");
  EXPECT_TRUE(segment.check.passed);
  EXPECT_EQ(segment.plan.winograd_convolutions, 0);
  const at::Tensor got = (*graph)->Run(model.Stack(inputs)).at(0).toTensor();
  const at::Tensor want = reference.at(0).toTensor();
  EXPECT_TRUE(at::allclose(got, want, 3e-2, 3e-2 * want.abs().max().item<double>()));
}

TEST(AccuracyFallback, CorrectPlanIsKeptAtTheRequestedPrecision) {
  c10::InferenceMode guard;
  FrozenModel model = Model();
  const std::vector<at::Tensor> inputs = {torch::randn({1, 3, 10, 10})};
  CompilerOptions options;
  options.speed_check = false;  // these tests are about accuracy; tiny plans may lose on speed
  options.precision = PrecisionPolicy::kBf16;
  auto plan = BuildKeyPlan(model.graph, model.Stack(inputs), options);
  ASSERT_TRUE(plan.ok()) << plan.status();
  ASSERT_NE((*plan)->graph, nullptr);
  EXPECT_EQ((*plan)->precision, "bf16");
  EXPECT_TRUE((*plan)->final_check.passed);
  EXPECT_TRUE((*plan)->graph->report().left.empty());
}

}  // namespace
}  // namespace kiln::engine::segment

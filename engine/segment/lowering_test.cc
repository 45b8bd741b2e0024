// Conformance of every lowering against ATen: each case is a small module,
// compiled by the engine (fp32 and bf16) and compared with the TorchScript
// reference on odd shapes. Shared table, one test per case.
#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "absl/strings/str_join.h"
#include "engine/compiler.h"
#include "engine/segment/compiled_graph.h"
#include "engine/segment/test_modules.h"
#include "kernels/cpu/cpu_features.h"

namespace kiln::engine::segment {
namespace {

struct LoweringCase {
  std::string name;
  std::string source;
  std::map<std::string, std::vector<int64_t>> parameters;  // random normal
  std::vector<std::vector<int64_t>> inputs;
};

std::ostream& operator<<(std::ostream& os, const LoweringCase& c) { return os << c.name; }

const std::vector<LoweringCase>& Cases() {
  static const auto* cases = new std::vector<LoweringCase>{
      {"conv3x3_bias", "def forward(self, x):\n  return torch.conv2d(x, self.w, self.b, [1, 1], [1, 1], [1, 1], 1)\n",
       {{"w", {7, 5, 3, 3}}, {"b", {7}}}, {{2, 5, 9, 11}}},
      {"conv_strided_dilated", "def forward(self, x):\n  return torch.conv2d(x, self.w, None, [2, 2], [2, 2], [2, 2], 1)\n",
       {{"w", {6, 4, 5, 5}}}, {{1, 4, 13, 10}}},
      {"conv_grouped", "def forward(self, x):\n  return torch.conv2d(x, self.w, self.b, [1, 1], [0, 0], [1, 1], 3)\n",
       {{"w", {9, 2, 3, 3}}, {"b", {9}}}, {{1, 6, 9, 9}}},
      {"conv_depthwise_strided", "def forward(self, x):\n  return torch.conv2d(x, self.w, None, [2, 2], [1, 1], [1, 1], 8)\n",
       {{"w", {8, 1, 3, 3}}}, {{1, 8, 15, 7}}},
      {"conv_same_padding", "def forward(self, x):\n  return torch.conv2d(x, self.w, self.b, [1, 1], 'same', [1, 1], 1)\n",
       {{"w", {4, 3, 4, 4}}, {"b", {4}}}, {{1, 3, 8, 9}}},
      {"conv1d", "def forward(self, x):\n  return torch.conv1d(x, self.w, self.b, [2], [1], [1], 1)\n",
       {{"w", {5, 3, 4}}, {"b", {5}}}, {{2, 3, 17}}},
      {"conv_transpose2d", "def forward(self, x):\n  return torch.conv_transpose2d(x, self.w, self.b, [2, 2], [1, 1], [1, 1], 1, [1, 1])\n",
       {{"w", {4, 3, 3, 3}}, {"b", {3}}}, {{1, 4, 5, 7}}},
      {"conv_transpose2d_grouped", "def forward(self, x):\n  return torch.conv_transpose2d(x, self.w, None, [2, 2], [1, 1], [0, 0], 2, [1, 1])\n",
       {{"w", {4, 3, 4, 4}}}, {{1, 4, 6, 6}}},
      {"conv_transpose2d_k4_s2_p1_bn_relu", "def forward(self, x):\n  y = torch.conv_transpose2d(x, self.w, None, [2, 2], [1, 1], [0, 0], 1, [1, 1])\n  return torch.relu(torch.batch_norm(y, self.g, self.b, self.m, self.v, False, 0.1, 1e-5, False))\n",
       {{"w", {6, 5, 4, 4}}, {"g", {5}}, {"b", {5}}, {"m", {5}}, {"v", {5}}}, {{1, 6, 5, 3}}},
      {"conv_transpose2d_stride1_from_1x1", "def forward(self, x):\n  return torch.tanh(torch.conv_transpose2d(x, self.w, self.b, [1, 1], [0, 0], [0, 0], 1, [1, 1]))\n",
       {{"w", {7, 4, 4, 4}}, {"b", {4}}}, {{2, 7, 1, 1}}},
      {"conv_transpose2d_dilated", "def forward(self, x):\n  return torch.conv_transpose2d(x, self.w, self.b, [2, 2], [1, 1], [0, 0], 1, [2, 2])\n",
       {{"w", {3, 4, 3, 3}}, {"b", {4}}}, {{1, 3, 5, 4}}},
      {"conv_transpose2d_residual", "def forward(self, x, y):\n  return torch.conv_transpose2d(x, self.w, None, [2, 2], [1, 1], [0, 0], 1, [1, 1]) + y\n",
       {{"w", {3, 4, 4, 4}}}, {{1, 3, 5, 4}, {1, 4, 10, 8}}},
      {"conv_transpose1d_k8_s4", "def forward(self, x):\n  return torch.relu(torch.conv_transpose1d(x, self.w, self.b, [4], [0], [0], 1, [1]))\n",
       {{"w", {6, 3, 8}}, {"b", {3}}}, {{1, 6, 23}}},
      {"conv_transpose1d_k5_s3_p2_output_padding", "def forward(self, x):\n  return torch.conv_transpose1d(x, self.w, None, [3], [2], [2], 1, [1])\n",
       {{"w", {4, 5, 5}}}, {{2, 4, 11}}},
      {"conv_weight_from_input_grouped", "def forward(self, x, w):\n  y = torch.conv2d(x.view(1, 6, 7, 9), w.view(8, 3, 3, 3), None, [1, 1], [1, 1], [1, 1], 2)\n  return torch.relu(y)\n",
       {}, {{2, 3, 7, 9}, {2, 4, 3, 3, 3}}},
      {"conv_weight_computed_in_segment", "def forward(self, x, w, s):\n  return torch.conv2d(x, w * s, self.b, [2, 2], [1, 1], [1, 1], 1)\n",
       {{"b", {5}}}, {{1, 4, 9, 8}, {5, 4, 3, 3}, {5, 4, 1, 1}}},
      {"prelu_per_channel", "def forward(self, x):\n  return torch.prelu(x, self.w)\n",
       {{"w", {5}}}, {{2, 5, 7, 3}}},
      {"prelu_one_slope_2d", "def forward(self, x):\n  return torch.prelu(x, self.w)\n",
       {{"w", {1}}}, {{3, 37}}},
      {"conv_prelu_conv", "def forward(self, x):\n  y = torch.prelu(torch.conv2d(x, self.w, self.b, [1, 1], [1, 1], [1, 1], 1), self.p)\n  return torch.conv2d(y, self.w2, None, [1, 1], [1, 1], [1, 1], 1)\n",
       {{"w", {20, 3, 3, 3}}, {"b", {20}}, {"p", {20}}, {"w2", {4, 20, 3, 3}}}, {{1, 3, 9, 11}}},
      {"conv_relu_residual", "def forward(self, x):\n  y = torch.relu(torch.conv2d(x, self.w, self.b, [1, 1], [1, 1], [1, 1], 1))\n  return torch.relu(torch.conv2d(y, self.w, None, [1, 1], [1, 1], [1, 1], 1) + x)\n",
       {{"w", {6, 6, 3, 3}}, {"b", {6}}}, {{1, 6, 7, 9}}},
      {"linear", "def forward(self, x):\n  return torch.linear(x, self.w, self.b)\n",
       {{"w", {11, 37}}, {"b", {11}}}, {{3, 37}}},
      {"linear_3d_gelu", "def forward(self, x):\n  return torch.gelu(torch.linear(x, self.w, self.b))\n",
       {{"w", {13, 37}}, {"b", {13}}}, {{2, 5, 37}}},
      {"matmul_batched", "def forward(self, x, y):\n  return torch.matmul(x, y)\n", {}, {{2, 7, 9}, {2, 9, 5}}},
      {"relu", "def forward(self, x):\n  return torch.relu(x)\n", {}, {{2, 3, 5, 7}}},
      {"relu6", "def forward(self, x):\n  return torch.hardtanh(x, 0.0, 6.0)\n", {}, {{2, 3, 5, 7}}},
      {"leaky_relu", "def forward(self, x):\n  return torch.leaky_relu(x, 0.1)\n", {}, {{2, 3, 5, 7}}},
      {"silu", "def forward(self, x):\n  return torch.silu(x)\n", {}, {{2, 3, 5, 7}}},
      {"hardswish", "def forward(self, x):\n  return torch.hardswish(x * 4.0)\n", {}, {{2, 3, 5, 7}}},
      {"hardsigmoid", "def forward(self, x):\n  return torch.hardsigmoid(x * 4.0)\n", {}, {{2, 3, 5, 7}}},
      {"sigmoid", "def forward(self, x):\n  return torch.sigmoid(x)\n", {}, {{2, 3, 5, 7}}},
      {"tanh", "def forward(self, x):\n  return torch.tanh(x)\n", {}, {{2, 3, 5, 7}}},
      {"gelu_tanh", "def forward(self, x):\n  return torch.gelu(x, approximate='tanh')\n", {}, {{2, 3, 5, 7}}},
      {"elu", "def forward(self, x):\n  return torch.elu(x, 0.7, 1.0, 1.0)\n", {}, {{2, 3, 5, 7}}},
      {"add_broadcast_channel", "def forward(self, x, y):\n  return x + y\n", {}, {{2, 3, 5, 7}, {3, 1, 1}}},
      {"mul_same_shape", "def forward(self, x, y):\n  return x * y\n", {}, {{2, 3, 5, 7}, {2, 3, 5, 7}}},
      {"sub_div_scalars", "def forward(self, x):\n  return (x - 2.5) / 3.0\n", {}, {{2, 3, 5, 7}}},
      {"max_pool_ceil", "def forward(self, x):\n  return torch.max_pool2d(x, [3, 3], [2, 2], [1, 1], [1, 1], True)\n", {}, {{1, 3, 14, 13}}},
      {"avg_pool_exclude_pad", "def forward(self, x):\n  return torch.avg_pool2d(x, [3, 3], [2, 2], [1, 1], False, False)\n", {}, {{1, 3, 11, 11}}},
      {"adaptive_avg_pool_1x1", "def forward(self, x):\n  return torch.adaptive_avg_pool2d(x, [1, 1])\n", {}, {{1, 5, 8, 6}}},
      {"adaptive_avg_pool_2x3", "def forward(self, x):\n  return torch.adaptive_avg_pool2d(x, [2, 3])\n", {}, {{1, 5, 8, 6}}},
      {"mean_spatial", "def forward(self, x):\n  return torch.mean(x, [2, 3], False)\n", {}, {{2, 5, 8, 6}}},
      {"flatten_linear", "def forward(self, x):\n  return torch.linear(torch.flatten(x, 1), self.w, None)\n",
       {{"w", {10, 36}}}, {{2, 4, 3, 3}}},
      {"permute", "def forward(self, x):\n  return torch.relu(x.permute([0, 2, 3, 1]))\n", {}, {{2, 3, 4, 5}}},
      {"transpose_contiguous", "def forward(self, x):\n  return torch.sigmoid(x.transpose(1, 2).contiguous())\n", {}, {{2, 3, 4, 5}}},
      {"cat_channels", "def forward(self, x):\n  return torch.cat([torch.relu(x), torch.sigmoid(x)], 1)\n", {}, {{1, 3, 5, 7}}},
      {"softmax_last", "def forward(self, x):\n  return torch.softmax(x, -1)\n", {}, {{3, 17}}},
      {"log_softmax_channels", "def forward(self, x):\n  return torch.log_softmax(x, 1)\n", {}, {{2, 10, 3}}},
      {"batch_norm_standalone", "def forward(self, x):\n  return torch.batch_norm(torch.relu(x), self.w, self.b, self.m, self.v, False, 0.1, 1e-5, False)\n",
       {{"w", {6}}, {"b", {6}}, {"m", {6}}, {"v", {6}}}, {{2, 6, 5, 5}}},
      {"upsample_nearest", "def forward(self, x):\n  return torch.upsample_nearest2d(x, [10, 14], None, None)\n", {}, {{1, 3, 5, 7}}},
      {"upsample_bilinear", "def forward(self, x):\n  return torch.upsample_bilinear2d(x, [10, 14], False, None, None)\n", {}, {{1, 3, 5, 7}}},
      {"instance_norm_affine", "def forward(self, x):\n  return torch.instance_norm(x, self.w, self.b, None, None, True, 0.1, 1e-5, False)\n",
       {{"w", {6}}, {"b", {6}}}, {{2, 6, 5, 7}}},
      {"instance_norm_plain_1d", "def forward(self, x):\n  return torch.instance_norm(x, None, None, None, None, True, 0.1, 1e-5, False)\n",
       {}, {{3, 4, 9}}},
      {"in_place_relu_on_conv", "def forward(self, x):\n  y = torch.conv2d(x, self.w, None, [1, 1], [0, 0], [1, 1], 1)\n  return torch.relu_(y)\n",
       {{"w", {4, 3, 1, 1}}}, {{1, 3, 5, 5}}},
      {"chunk_channels", "def forward(self, x):\n  a, b = torch.chunk(torch.relu(x), 2, 1)\n  return torch.cat([torch.sigmoid(b), a], 1)\n",
       {}, {{1, 6, 5, 7}}},
      {"split_sizes_last_axis", "def forward(self, x):\n  a, b, c = torch.split(x, [2, 3, 4], -1)\n  return torch.cat([c, torch.relu(a), b], 3)\n",
       {}, {{2, 3, 5, 9}}},
      {"pixel_shuffle", "def forward(self, x):\n  return torch.pixel_shuffle(x, 2)\n", {}, {{1, 8, 5, 3}}},
      {"channel_shuffle", "def forward(self, x):\n  return torch.channel_shuffle(x, 2)\n", {}, {{1, 6, 3, 3}}},
      {"channel_shuffle_by_view", "def forward(self, x):\n  b, c, h, w = x.size()\n  y = x.view(b, 2, c // 2, h, w)\n  y = torch.transpose(y, 1, 2).contiguous()\n  return torch.relu(y.view(b, c, h, w))\n", {}, {{1, 6, 3, 5}}},
  };
  return *cases;
}

class LoweringTest : public ::testing::TestWithParam<LoweringCase> {};

// Runs the case at `precision` and compares plan and reference; the plan's
// Winograd convolutions are counted into `*winograd_convolutions` when given.
void Check(const LoweringCase& c, plan::PlanPrecision precision, double rtol, double atol,
           plan::WinogradUse winograd = plan::WinogradUse::kWhenFaster,
           int* winograd_convolutions = nullptr) {
  c10::InferenceMode guard;
  torch::manual_seed(0);
  std::map<std::string, at::Tensor> parameters;
  for (const auto& [name, dims] : c.parameters) {
    at::Tensor p = torch::randn(dims);
    if (name == "v") p = p.abs() + 0.5;  // variances are positive
    parameters[name] = p;
  }
  FrozenModel model = MakeFrozenModel(c.source, parameters);
  std::vector<at::Tensor> inputs;
  for (const auto& dims : c.inputs) inputs.push_back(torch::randn(dims));
  CompileOptions options;
  options.precision = precision;
  options.segment_everything = true;
  options.winograd = winograd;
  std::vector<c10::IValue> reference;
  auto plan = CompiledGraph::Build(model.graph, model.Stack(inputs), options, &reference);
  ASSERT_TRUE(plan.ok()) << plan.status();
  const PlanReport& report = (*plan)->report();
  std::string left;
  for (const LeftNode& n : report.left) left += n.kind + " (" + n.reason + ") ";
  EXPECT_EQ(report.compiled_segments(), 1) << "left to TorchScript: " << left;
  EXPECT_TRUE(report.left.empty()) << left;
  if (winograd_convolutions != nullptr) {
    *winograd_convolutions = 0;
    for (const SegmentSummary& s : report.segments) {
      *winograd_convolutions += s.plan.winograd_convolutions;
    }
  }
  std::vector<c10::IValue> got = (*plan)->Run(model.Stack(inputs));
  const at::Tensor expected = reference.at(0).toTensor();
  const at::Tensor actual = got.at(0).toTensor();
  ASSERT_EQ(expected.sizes(), actual.sizes());
  const double scale = expected.abs().max().item<double>();
  EXPECT_TRUE(at::allclose(actual, expected, rtol, atol * std::max(scale, 1.0)))
      << c.name << " max abs error " << (actual - expected).abs().max().item<double>()
      << " (scale " << scale << ")";
}

TEST_P(LoweringTest, Fp32MatchesATen) { Check(GetParam(), plan::PlanPrecision::kFp32, 1e-4, 1e-5); }

TEST_P(LoweringTest, Bf16MatchesATenWithinBf16Tolerance) {
  Check(GetParam(), plan::PlanPrecision::kBf16, 3e-2, 3e-2);
}

INSTANTIATE_TEST_SUITE_P(Ops, LoweringTest, ::testing::ValuesIn(Cases()),
                         [](const auto& info) { return info.param.name; });

// 3x3 stride-1 convolutions with Winograd forced wherever it applies: fp32 on
// oneDNN's (16-channel multiples, AVX-512), bf16 on Kiln's F(2,3) (any
// channel count; bias and relu in its output transform).
const std::vector<LoweringCase>& WinogradCases() {
  static const auto* cases = new std::vector<LoweringCase>{
      {"conv3x3_relu_32_to_48", "def forward(self, x):\n  return torch.relu(torch.conv2d(x, self.w, self.b, [1, 1], [1, 1], [1, 1], 1))\n",
       {{"w", {48, 32, 3, 3}}, {"b", {48}}}, {{2, 32, 9, 11}}},
      {"conv3x3_pad2_16", "def forward(self, x):\n  return torch.conv2d(x, self.w, self.b, [1, 1], [2, 2], [1, 1], 1)\n",
       {{"w", {16, 16, 3, 3}}, {"b", {16}}}, {{1, 16, 6, 7}}},
      {"conv3x3_valid_odd_channels", "def forward(self, x):\n  return torch.conv2d(x, self.w, None, [1, 1], [0, 0], [1, 1], 1)\n",
       {{"w", {5, 7, 3, 3}}}, {{1, 7, 8, 5}}},
      {"conv3x3_chain_1x1_input", "def forward(self, x):\n  y = torch.relu(torch.conv2d(x, self.w, self.b, [1, 1], [1, 1], [1, 1], 1))\n  return torch.conv2d(y, self.w2, None, [1, 1], [1, 1], [1, 1], 1)\n",
       {{"w", {32, 16, 3, 3}}, {"b", {32}}, {"w2", {16, 32, 3, 3}}}, {{1, 16, 1, 1}}},
      {"conv3x3_residual_relu", "def forward(self, x):\n  y = torch.relu(torch.conv2d(x, self.w, self.b, [1, 1], [1, 1], [1, 1], 1))\n  return torch.relu(torch.conv2d(y, self.w2, self.b2, [1, 1], [1, 1], [1, 1], 1) + x)\n",
       {{"w", {16, 16, 3, 3}}, {"b", {16}}, {"w2", {16, 16, 3, 3}}, {"b2", {16}}}, {{1, 16, 7, 9}}},
  };
  return *cases;
}

class WinogradLoweringTest : public ::testing::TestWithParam<LoweringCase> {};

TEST_P(WinogradLoweringTest, Fp32MatchesATen) {
  int winograd = 0;
  Check(GetParam(), plan::PlanPrecision::kFp32, 1e-4, 1e-5, plan::WinogradUse::kAlways,
        &winograd);
  // oneDNN has fp32 Winograd for 16-channel multiples and padding 1, on
  // AVX-512 only.
  const std::string& name = GetParam().name;
  const bool expected = kernels::cpu::CpuHasAvx512Core() &&
                        (name == "conv3x3_relu_32_to_48" || name == "conv3x3_chain_1x1_input" ||
                         name == "conv3x3_residual_relu");
  if (expected) EXPECT_GT(winograd, 0);
}

TEST_P(WinogradLoweringTest, Bf16MatchesATenWithinBf16Tolerance) {
  int winograd = 0;
  Check(GetParam(), plan::PlanPrecision::kBf16, 3e-2, 3e-2, plan::WinogradUse::kAlways,
        &winograd);
  const std::string& name = GetParam().name;
  EXPECT_EQ(winograd, name == "conv3x3_chain_1x1_input" || name == "conv3x3_residual_relu" ? 2 : 1);
}

TEST(WinogradLoweringOffTest, OffKeepsEveryConvolutionDirect) {
  int winograd = -1;
  Check(WinogradCases()[0], plan::PlanPrecision::kBf16, 3e-2, 3e-2, plan::WinogradUse::kOff,
        &winograd);
  EXPECT_EQ(winograd, 0);
}

INSTANTIATE_TEST_SUITE_P(Ops, WinogradLoweringTest, ::testing::ValuesIn(WinogradCases()),
                         [](const auto& info) { return info.param.name; });

}  // namespace
}  // namespace kiln::engine::segment

// Fusion passes: IR tests (what fired, what must not) and numeric tests (the
// compiled segment before and after fusion computes the same values).
#include "engine/plan/fusion.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <random>
#include <thread>

#include "engine/plan/compiled_segment.h"
#include "engine/plan/plan_test_util.h"

namespace kiln::engine::plan {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

Constant Random(Dims dims, int seed) { return RandomConstant(std::move(dims), seed); }

// x -> conv3x3 -> relu -> conv3x3 -> (+ x) -> relu, a residual block.
Graph ResidualBlock(int channels = 8) {
  Graph g;
  const Dims act = {1, channels, 6, 7};
  const int x = g.AddValue(act, "x");
  g.inputs = {x};
  auto conv = [&](int in, int seed) {
    Node n;
    n.kind = OpKind::kConv;
    n.inputs = {in};
    n.conv.strides = {1, 1};
    n.conv.padding_l = n.conv.padding_r = {1, 1};
    n.conv.dilation = {1, 1};
    n.conv.weight = Random({channels, channels, 3, 3}, seed);
    n.conv.has_bias = true;
    n.conv.bias = Random({channels}, seed + 1);
    n.output = g.AddValue(act);
    n.origin = "conv";
    g.nodes.push_back(n);
    return n.output;
  };
  auto relu = [&](int in) {
    Node n;
    n.kind = OpKind::kEltwise;
    n.unary.function = Unary::kRelu;
    n.inputs = {in};
    n.output = g.AddValue(act);
    n.origin = "relu";
    g.nodes.push_back(n);
    return n.output;
  };
  const int a = relu(conv(x, 1));
  const int b = conv(a, 3);
  Node add;
  add.kind = OpKind::kBinary;
  add.binary = BinaryFn::kAdd;
  add.inputs = {b, x};
  add.output = g.AddValue(act);
  add.origin = "add";
  g.nodes.push_back(add);
  g.outputs = {relu(add.output)};
  return g;
}


TEST(FuseActivations, FoldsReluIntoConv) {
  Graph g = ResidualBlock();
  EXPECT_EQ(FuseActivations(g), 2);  // relu after conv1, relu after the add
  const std::string ir = g.ToString();
  EXPECT_THAT(ir, HasSubstr("conv(%0) k=8x8x3x3 s=1x1 g=1 +relu"));
  EXPECT_THAT(ir, HasSubstr("binary.add(%3,%0) +relu"));
  EXPECT_THAT(ir, Not(HasSubstr("eltwise")));
}

TEST(FuseActivations, DoesNotFireWhenTheConvResultIsReadTwice) {
  Graph g = ResidualBlock();
  // Make conv1's raw output a segment output too: the relu must stay apart.
  g.outputs.push_back(g.nodes[0].output);
  FuseActivations(g);
  EXPECT_THAT(g.ToString(), HasSubstr("eltwise.relu(%1)"));
}

TEST(FuseBinaryIntoProducer, ResidualAddBecomesASumPostOp) {
  Graph g = ResidualBlock();
  EXPECT_EQ(RunFusionPasses(g), 3);
  const std::string ir = g.ToString();
  EXPECT_THAT(ir, HasSubstr("+sum(%0) +relu"));
  EXPECT_EQ(g.nodes.size(), 2u) << ir;
}

TEST(FuseBinaryIntoProducer, DoesNotFireWhenTheOtherOperandComesLater) {
  // y = conv(x); z = conv2(x); out = y + z: neither sum can use a value
  // produced after its own conv... except z's conv can accumulate into y.
  Graph g = ResidualBlock();
  // Replace the add's second operand by a value computed after conv2.
  Node late;
  late.kind = OpKind::kEltwise;
  late.unary.function = Unary::kSigmoid;
  late.inputs = {g.inputs[0]};
  late.output = g.AddValue(g.values[g.inputs[0]].dims);
  late.origin = "sigmoid";
  // Insert right before the add (index 3), after conv2 (index 2).
  g.nodes.insert(g.nodes.begin() + 3, late);
  g.nodes[4].inputs = {g.nodes[2].output, late.output};
  EXPECT_EQ(FuseBinaryIntoProducer(g), 0) << g.ToString();
}

TEST(FusionNumerics, FusedSegmentComputesTheSameValues) {
  Graph plain = ResidualBlock();
  Graph fused = plain;
  RunFusionPasses(fused);
  const std::vector<float> a = RunSegment(plain), b = RunSegment(fused);
  ASSERT_EQ(a.size(), b.size());
  ASSERT_FALSE(a.empty());
  for (size_t i = 0; i < a.size(); ++i) EXPECT_NEAR(a[i], b[i], 1e-4) << i;
}

TEST(FusionNumerics, Bf16FusedSegmentStaysClose) {
  Graph plain = ResidualBlock();
  Graph fused = plain;
  RunFusionPasses(fused);
  const std::vector<float> a = RunSegment(plain), b = RunSegment(fused, PlanPrecision::kBf16);
  ASSERT_EQ(a.size(), b.size());
  float scale = 0;
  for (float v : a) scale = std::max(scale, std::abs(v));
  for (size_t i = 0; i < a.size(); ++i) EXPECT_NEAR(a[i], b[i], 0.03f * scale) << i;
}

TEST(CompiledSegment, ConcurrentRunsUseSeparateArenas) {
  Graph g = ResidualBlock(16);
  RunFusionPasses(g);
  auto segment = CompiledSegment::Build(g, BuildOptions{});
  ASSERT_TRUE(segment.ok());
  const std::vector<float> expected = RunSegment(g);
  std::vector<std::thread> threads;
  std::atomic<int> mismatches{0};
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&]() {
      std::vector<float> input(expected.size()), output(expected.size());
      for (size_t i = 0; i < input.size(); ++i) input[i] = std::sin(0.37f * i);
      for (int r = 0; r < 20; ++r) {
        if (!(*segment)->Run({input.data()}, {output.data()}).ok() || output != expected) {
          ++mismatches;
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(mismatches.load(), 0);
}

}  // namespace
}  // namespace kiln::engine::plan

namespace kiln::engine::plan {
namespace {

// x -> conv -> batch_norm (constant statistics) -> relu.
Graph ConvBatchNorm() {
  Graph g;
  const int x = g.AddValue({1, 4, 5, 6}, "x");
  g.inputs = {x};
  Node conv;
  conv.kind = OpKind::kConv;
  conv.inputs = {x};
  conv.conv.strides = {1, 1};
  conv.conv.padding_l = conv.conv.padding_r = {1, 1};
  conv.conv.dilation = {1, 1};
  conv.conv.weight = Random({6, 4, 3, 3}, 7);
  conv.output = g.AddValue({1, 6, 5, 6});
  g.nodes.push_back(conv);
  Node bn;
  bn.kind = OpKind::kBatchNorm;
  bn.inputs = {conv.output};
  bn.epsilon = 1e-5f;
  bn.mean = Random({6}, 8);
  std::vector<float> var(6);
  for (int i = 0; i < 6; ++i) var[i] = 0.5f + 0.1f * i;
  bn.variance = Constant::Own({6}, var);
  bn.scale = Random({6}, 9);
  bn.shift = Random({6}, 10);
  bn.output = g.AddValue({1, 6, 5, 6});
  g.nodes.push_back(bn);
  g.outputs = {bn.output};
  return g;
}

// Folds the norm of `plain` and expects one node left computing the same.
void ExpectFoldKeepsNumerics(const Graph& plain, OpKind kind, size_t elements) {
  Graph folded = plain;
  EXPECT_EQ(FoldBatchNormIntoConv(folded), 1);
  ASSERT_EQ(folded.nodes.size(), 1u);
  EXPECT_EQ(folded.nodes[0].kind, kind);
  EXPECT_TRUE(folded.nodes[0].conv.has_bias);
  const std::vector<float> a = RunSegment(plain), b = RunSegment(folded);
  ASSERT_EQ(a.size(), elements);
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) EXPECT_NEAR(a[i], b[i], 1e-4) << i;
}

TEST(FoldBatchNormIntoConv, FoldsAndKeepsNumerics) {
  ExpectFoldKeepsNumerics(ConvBatchNorm(), OpKind::kConv, 6 * 5 * 6);
}

// The same after a grouped, strided transposed convolution (weights laid out
// (I, O/g, k, k)): x [1,4,5,6] -> deconv (2 groups, 6 out, k4 s2 p1) -> bn.
Graph DeconvBatchNorm() {
  Graph g = ConvBatchNorm();
  Node& deconv = g.nodes[0];
  deconv.kind = OpKind::kDeconv;
  deconv.conv.strides = {2, 2};
  deconv.conv.groups = 2;
  deconv.conv.output_padding = {0, 0};
  deconv.conv.weight = Random({4, 3, 4, 4}, 11);
  deconv.conv.has_bias = true;
  deconv.conv.bias = Random({6}, 12);
  g.values[deconv.output].dims = {1, 6, 10, 12};
  g.values[g.nodes[1].output].dims = {1, 6, 10, 12};
  return g;
}

TEST(FoldBatchNormIntoConv, FoldsIntoGroupedDeconvolution) {
  ExpectFoldKeepsNumerics(DeconvBatchNorm(), OpKind::kDeconv, 6 * 10 * 12);
}

TEST(FoldBatchNormIntoConv, DoesNotFireWhenTheConvResultIsAlsoAnOutput) {
  Graph g = ConvBatchNorm();
  g.outputs.push_back(g.nodes[0].output);
  EXPECT_EQ(FoldBatchNormIntoConv(g), 0);
  EXPECT_EQ(g.nodes.size(), 2u);
}

}  // namespace
}  // namespace kiln::engine::plan

namespace kiln::engine::plan {
namespace {

Graph ShuffleByView(std::vector<int> permutation) {
  Graph g;
  const int x = g.AddValue({1, 6, 3, 5}, "x");
  g.inputs = {x};
  Node split;
  split.kind = OpKind::kReshape;
  split.inputs = {x};
  split.output = g.AddValue({1, 2, 3, 3, 5});
  Node swap;
  swap.kind = OpKind::kPermute;
  swap.inputs = {split.output};
  swap.permutation = std::move(permutation);
  swap.output = g.AddValue({1, 3, 2, 3, 5});
  Node merge;
  merge.kind = OpKind::kReshape;
  merge.inputs = {swap.output};
  merge.output = g.AddValue({1, 6, 3, 5});
  g.nodes = {split, swap, merge};
  g.outputs = {merge.output};
  return g;
}

TEST(RecognizeChannelShuffle, ViewTransposeViewBecomesOneShuffle) {
  Graph g = ShuffleByView({0, 2, 1, 3, 4});
  EXPECT_EQ(RecognizeChannelShuffle(g), 1);
  EXPECT_EQ(g.ToString(), "inputs(%0)\n%3[1x6x3x5] = channel_shuffle(%0)\noutputs(%3)\n");
  EXPECT_EQ(g.nodes[0].factor, 2);
}

TEST(RecognizeChannelShuffle, OtherPermutationsAreLeftAlone) {
  Graph g = ShuffleByView({0, 1, 2, 4, 3});
  EXPECT_EQ(RecognizeChannelShuffle(g), 0);
  EXPECT_EQ(g.nodes.size(), 3u);
}

}  // namespace
}  // namespace kiln::engine::plan

// SplitNarrowConvolutions: IR (what fires and what must not) and numerics
// (the compiled segment before and after the split computes the same).
#include "engine/plan/split_narrow_conv.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "engine/plan/compiled_segment.h"
#include "engine/plan/fusion.h"
#include "engine/plan/plan_test_util.h"

namespace kiln::engine::plan {
namespace {

using ::testing::HasSubstr;

Constant Random(Dims dims, int seed) { return RandomConstant(std::move(dims), seed, 0.2f); }

// x [1, C, H, W] -> conv (O outputs, kh x kw, stride s, padding p) -> tanh.
Graph ConvTanh(int64_t channels, int64_t outputs, int64_t kh, int64_t kw, int64_t stride,
               int64_t pad, int64_t h, int64_t w) {
  Graph g;
  const int x = g.AddValue({1, channels, h, w}, "x");
  g.inputs = {x};
  Node conv;
  conv.kind = OpKind::kConv;
  conv.inputs = {x};
  conv.conv.strides = {stride, stride};
  conv.conv.dilation = {1, 1};
  const int64_t oh = (h + 2 * pad - kh) / stride + 1, ow = (w + 2 * pad - kw) / stride + 1;
  conv.conv.padding_l = {pad, pad};
  conv.conv.padding_r = {(oh - 1) * stride + kh - h - pad, (ow - 1) * stride + kw - w - pad};
  conv.conv.weight = Random({outputs, channels, kh, kw}, 3);
  conv.conv.has_bias = true;
  conv.conv.bias = Random({outputs}, 4);
  conv.output = g.AddValue({1, outputs, oh, ow});
  g.nodes.push_back(conv);
  Node tanh;
  tanh.kind = OpKind::kEltwise;
  tanh.unary.function = Unary::kTanh;
  tanh.inputs = {conv.output};
  tanh.output = g.AddValue({1, outputs, oh, ow});
  g.nodes.push_back(tanh);
  g.outputs = {tanh.output};
  return g;
}


TEST(SplitNarrowConvolutions, SplitsAThreeChannelNineByNineOutputLayer) {
  Graph g = ConvTanh(16, 3, 9, 9, 1, 4, 40, 37);
  const Graph original = g;
  EXPECT_EQ(SplitNarrowConvolutions(g), 1);
  ASSERT_EQ(g.nodes.size(), 3u);
  const std::string ir = g.ToString();
  EXPECT_THAT(ir, HasSubstr("k=27x16x1x9"));  // rows: 3 outputs x 9 rows
  EXPECT_THAT(ir, HasSubstr("k=3x27x9x1"));   // their sum
  EXPECT_EQ(g.values[g.nodes[0].output].dims, (Dims{1, 27, 48, 37}));  // 40 rows + 2 x 4 padding
  EXPECT_EQ(g.nodes[1].output, original.nodes[0].output);  // B takes over the output
  EXPECT_TRUE(g.nodes[1].conv.has_bias);
  EXPECT_FALSE(g.nodes[0].conv.has_bias);
}

TEST(SplitNarrowConvolutions, KeepsTheNumbersWithStrideAndUnevenPadding) {
  for (const Graph& g : {ConvTanh(16, 3, 9, 9, 1, 4, 40, 37), ConvTanh(24, 5, 7, 5, 2, 3, 45, 31)}) {
    Graph split = g;
    ASSERT_EQ(SplitNarrowConvolutions(split), 1);
    const std::vector<float> a = RunSegment(g), b = RunSegment(split);
    ASSERT_EQ(a.size(), b.size());
    ASSERT_FALSE(a.empty());
    for (size_t i = 0; i < a.size(); ++i) EXPECT_NEAR(a[i], b[i], 1e-4) << i;
  }
}

TEST(SplitNarrowConvolutions, LeavesWideShortOrSmallConvolutions) {
  Graph wide = ConvTanh(16, 16, 9, 9, 1, 4, 40, 37);  // 16 outputs fill a block
  Graph flat = ConvTanh(64, 3, 1, 9, 1, 0, 40, 37);   // one row: nothing to split
  Graph tiny = ConvTanh(4, 3, 3, 3, 1, 1, 8, 8);      // too little work to matter
  EXPECT_EQ(SplitNarrowConvolutions(wide), 0);
  EXPECT_EQ(SplitNarrowConvolutions(flat), 0);
  EXPECT_EQ(SplitNarrowConvolutions(tiny), 0);
}

TEST(SplitNarrowConvolutions, TheActivationFusesIntoTheRowSum) {
  Graph g = ConvTanh(16, 3, 9, 9, 1, 4, 40, 37);
  RunFusionPasses(g);
  ASSERT_EQ(g.nodes.size(), 2u);
  EXPECT_THAT(g.nodes[1].post_ops.size(), 1u);
}

}  // namespace
}  // namespace kiln::engine::plan

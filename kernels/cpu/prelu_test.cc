// Prelu's conformance: the dispatched body (AVX-512 where the CPU has it)
// against the scalar reference over every layout form and odd sizes, fp32
// and bf16, bit for bit; and the reference against the definition.
#include "kernels/cpu/prelu.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include "kernels/cpu/bf16.h"

namespace kiln::kernels::cpu {
namespace {

struct Case {
  const char* name;
  PreluShape shape;
};

std::vector<float> Slopes(const PreluShape& s, std::mt19937& rng) {
  std::uniform_real_distribution<float> u(-0.5f, 0.5f);
  std::vector<float> v(s.groups * s.lanes);
  for (float& x : v) x = u(rng);
  return v;
}

std::vector<float> Values(int64_t n, std::mt19937& rng) {
  std::normal_distribution<float> normal(0.0f, 3.0f);
  std::vector<float> v(n);
  for (float& x : v) x = normal(rng);
  if (n > 3) {  // the edges: zeros of both signs and a NaN
    v[0] = 0.0f;
    v[1] = -0.0f;
    v[2] = std::numeric_limits<float>::quiet_NaN();
  }
  return v;
}

class PreluTest : public ::testing::TestWithParam<Case> {};

TEST_P(PreluTest, Fp32MatchesTheReferenceBitForBit) {
  const PreluShape& s = GetParam().shape;
  std::mt19937 rng(11);
  const std::vector<float> slopes = Slopes(s, rng), x = Values(s.elements(), rng);
  std::vector<float> want(x.size()), got(x.size(), 1.0f);
  PreluReference(x.data(), want.data(), ElementType::kF32, s, slopes.data());
  Prelu(x.data(), got.data(), ElementType::kF32, s, slopes.data());
  EXPECT_EQ(std::memcmp(want.data(), got.data(), want.size() * sizeof(float)), 0);
}

TEST_P(PreluTest, Bf16MatchesTheReferenceBitForBit) {
  const PreluShape& s = GetParam().shape;
  std::mt19937 rng(12);
  const std::vector<float> slopes = Slopes(s, rng), values = Values(s.elements(), rng);
  std::vector<uint16_t> x(values.size()), want(values.size()), got(values.size(), 1);
  for (size_t i = 0; i < x.size(); ++i) x[i] = FloatToBf16(values[i]);
  PreluReference(x.data(), want.data(), ElementType::kBF16, s, slopes.data());
  Prelu(x.data(), got.data(), ElementType::kBF16, s, slopes.data());
  EXPECT_EQ(want, got);
}

TEST_P(PreluTest, InPlaceGivesTheSameResult) {
  const PreluShape& s = GetParam().shape;
  std::mt19937 rng(13);
  const std::vector<float> slopes = Slopes(s, rng);
  std::vector<float> x = Values(s.elements(), rng), want(x.size());
  PreluReference(x.data(), want.data(), ElementType::kF32, s, slopes.data());
  Prelu(x.data(), x.data(), ElementType::kF32, s, slopes.data());
  EXPECT_EQ(std::memcmp(want.data(), x.data(), want.size() * sizeof(float)), 0);
}

INSTANTIATE_TEST_SUITE_P(
    Layouts, PreluTest,
    ::testing::Values(Case{"channels_first_odd", {2, 5, 37, 1}},
                      Case{"channels_first_tiny", {1, 3, 1, 1}},
                      Case{"channels_last_odd_channels", {23, 1, 1, 13}},
                      Case{"channels_last_64", {17, 1, 1, 64}},
                      Case{"blocked_16", {2, 4, 19, 16}},
                      Case{"blocked_8", {1, 3, 7, 8}},
                      Case{"matrix_rows", {5, 1, 1, 33}}),
    [](const auto& info) { return std::string(info.param.name); });

TEST(PreluReferenceTest, FollowsTheDefinition) {
  // Channels first, 2 channels of 3 values: slopes 0.25 and -2.
  const PreluShape s{1, 2, 3, 1};
  const float slopes[] = {0.25f, -2.0f};
  const float x[] = {4.0f, -4.0f, 0.0f, 1.5f, -1.5f, -0.0f};
  float y[6];
  PreluReference(x, y, ElementType::kF32, s, slopes);
  EXPECT_EQ(y[0], 4.0f);
  EXPECT_EQ(y[1], -1.0f);
  EXPECT_EQ(y[2], 0.0f);
  EXPECT_EQ(y[3], 1.5f);
  EXPECT_EQ(y[4], 3.0f);
  EXPECT_EQ(y[5], 0.0f);
}

TEST(Bf16Test, RoundsToNearestEvenAndKeepsNaN) {
  EXPECT_EQ(FloatToBf16(1.0f), 0x3f80);
  // 1 + 2^-8 is halfway between two bf16 values: ties to even (down).
  EXPECT_EQ(FloatToBf16(1.00390625f), 0x3f80);
  // 1 + 3 * 2^-8 is halfway too: ties to even (up).
  EXPECT_EQ(FloatToBf16(1.01171875f), 0x3f82);
  EXPECT_EQ(FloatToBf16(std::numeric_limits<float>::quiet_NaN()), 0x7fc0);
  EXPECT_EQ(Bf16ToFloat(0xc000), -2.0f);
}

}  // namespace
}  // namespace kiln::kernels::cpu

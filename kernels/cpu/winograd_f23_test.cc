// Winograd F(2,3)'s conformance: the dispatched bodies (AVX-512 where the
// CPU has it) against the scalar references bit for bit, fp32 and bf16, over
// odd sizes; and weights + input + products + output against a direct 3x3
// convolution computed here from the definition.
#include "kernels/cpu/winograd_f23.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "kernels/cpu/bf16.h"

namespace kiln::kernels::cpu {
namespace {

struct Case {
  const char* name;
  Winograd23Shape shape;
};

std::vector<float> Normal(int64_t n, std::mt19937& rng) {
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> v(n);
  for (float& x : v) x = normal(rng);
  return v;
}

std::vector<uint16_t> ToBf16(const std::vector<float>& v) {
  std::vector<uint16_t> out(v.size());
  for (size_t i = 0; i < v.size(); ++i) out[i] = FloatToBf16(v[i]);
  return out;
}

Winograd23Tiles All(const Winograd23Shape& s) { return {0, s.tiles()}; }

int64_t InputSize(const Winograd23Shape& s) { return s.batch * s.height * s.width * s.channels; }
int64_t OutputSize(const Winograd23Shape& s) {
  return s.batch * s.out_height * s.out_width * s.outputs;
}

// y = conv3x3(x, w) + bias, from the definition (nhwc, PyTorch's weights).
std::vector<double> DirectConvolution(const Winograd23Shape& s, const std::vector<float>& x,
                                      const std::vector<float>& w,
                                      const std::vector<float>& bias) {
  std::vector<double> y(OutputSize(s));
  for (int64_t n = 0; n < s.batch; ++n)
    for (int64_t oy = 0; oy < s.out_height; ++oy)
      for (int64_t ox = 0; ox < s.out_width; ++ox)
        for (int64_t o = 0; o < s.outputs; ++o) {
          double sum = bias[o];
          for (int64_t c = 0; c < s.channels; ++c)
            for (int ky = 0; ky < 3; ++ky)
              for (int kx = 0; kx < 3; ++kx) {
                const int64_t iy = oy - s.pad_top + ky, ix = ox - s.pad_left + kx;
                if (iy < 0 || iy >= s.height || ix < 0 || ix >= s.width) continue;
                sum += static_cast<double>(x[((n * s.height + iy) * s.width + ix) * s.channels + c]) *
                       w[((o * s.channels + c) * 3 + ky) * 3 + kx];
              }
          y[((n * s.out_height + oy) * s.out_width + ox) * s.outputs + o] = sum;
        }
  return y;
}

class Winograd23Test : public ::testing::TestWithParam<Case> {};

TEST_P(Winograd23Test, InputMatchesTheReferenceBitForBit) {
  const Winograd23Shape& s = GetParam().shape;
  std::mt19937 rng(21);
  const std::vector<float> x = Normal(InputSize(s), rng);
  const int64_t v_size = kWinograd23Points * s.tiles() * s.channels;
  std::vector<float> want(v_size), got(v_size, 7.0f);
  Winograd23InputReference(x.data(), ElementType::kF32, s, All(s), want.data(), ElementType::kF32);
  Winograd23Input(x.data(), ElementType::kF32, s, All(s), got.data(), ElementType::kF32);
  EXPECT_EQ(std::memcmp(want.data(), got.data(), want.size() * sizeof(float)), 0);

  const std::vector<uint16_t> xb = ToBf16(x);
  std::vector<uint16_t> want_b(v_size), got_b(v_size, 7);
  Winograd23InputReference(xb.data(), ElementType::kBF16, s, All(s), want_b.data(),
                           ElementType::kBF16);
  Winograd23Input(xb.data(), ElementType::kBF16, s, All(s), got_b.data(), ElementType::kBF16);
  EXPECT_EQ(want_b, got_b);
}

TEST_P(Winograd23Test, OutputMatchesTheReferenceBitForBit) {
  const Winograd23Shape& s = GetParam().shape;
  std::mt19937 rng(22);
  const std::vector<float> m = Normal(kWinograd23Points * s.tiles() * s.outputs, rng);
  const std::vector<float> bias = Normal(s.outputs, rng);
  // What dst holds before: the operand of a fused residual sum.
  const std::vector<float> before = Normal(OutputSize(s), rng);
  const std::vector<uint16_t> before_b = ToBf16(before);
  for (int variant = 0; variant < 4; ++variant) {
    Winograd23Epilogue e;
    e.relu = variant & 1;
    e.add_destination = variant & 2;
    e.bias = bias.data();
    std::vector<float> want = before, got = before;
    Winograd23OutputReference(m.data(), s, All(s), e, want.data(), ElementType::kF32);
    Winograd23Output(m.data(), s, All(s), e, got.data(), ElementType::kF32);
    EXPECT_EQ(std::memcmp(want.data(), got.data(), want.size() * sizeof(float)), 0) << variant;

    e.bias = nullptr;
    std::vector<uint16_t> want_b = before_b, got_b = before_b;
    Winograd23OutputReference(m.data(), s, All(s), e, want_b.data(), ElementType::kBF16);
    Winograd23Output(m.data(), s, All(s), e, got_b.data(), ElementType::kBF16);
    EXPECT_EQ(want_b, got_b) << variant;
  }
}

// A run of tiles at a time gives what all tiles at once do (the rows of V and
// M for those tiles; the same outputs).
TEST_P(Winograd23Test, RunsOfTilesGiveTheWholeResult) {
  const Winograd23Shape& s = GetParam().shape;
  std::mt19937 rng(24);
  const std::vector<float> x = Normal(InputSize(s), rng);
  const int64_t tiles = s.tiles();
  std::vector<float> whole(kWinograd23Points * tiles * s.channels);
  Winograd23Input(x.data(), ElementType::kF32, s, All(s), whole.data(), ElementType::kF32);
  const std::vector<float> m = Normal(kWinograd23Points * tiles * s.outputs, rng);
  Winograd23Epilogue e;
  e.relu = true;
  std::vector<float> want(OutputSize(s)), got(OutputSize(s), 7.0f);
  Winograd23Output(m.data(), s, All(s), e, want.data(), ElementType::kF32);
  const int64_t run = std::max<int64_t>(1, (tiles + 2) / 3);  // three runs, the last shorter
  for (int64_t first = 0; first < tiles; first += run) {
    const Winograd23Tiles r{first, std::min(run, tiles - first)};
    std::vector<float> v(kWinograd23Points * r.count * s.channels);
    Winograd23Input(x.data(), ElementType::kF32, s, r, v.data(), ElementType::kF32);
    for (int p = 0; p < kWinograd23Points; ++p) {
      for (int64_t k = 0; k < r.count; ++k) {
        for (int64_t c = 0; c < s.channels; ++c) {
          ASSERT_EQ(v[(p * r.count + k) * s.channels + c],
                    whole[(p * tiles + first + k) * s.channels + c]);
        }
      }
    }
    std::vector<float> m_run(kWinograd23Points * r.count * s.outputs);
    for (int p = 0; p < kWinograd23Points; ++p) {
      std::copy_n(m.begin() + (p * tiles + first) * s.outputs, r.count * s.outputs,
                  m_run.begin() + p * r.count * s.outputs);
    }
    Winograd23Output(m_run.data(), s, r, e, got.data(), ElementType::kF32);
  }
  EXPECT_EQ(std::memcmp(want.data(), got.data(), want.size() * sizeof(float)), 0);
}

// Weights, input, the 16 products and the output together give the
// convolution (fp32 all through: only rounding differs).
TEST_P(Winograd23Test, TheFourStepsComputeTheConvolution) {
  const Winograd23Shape& s = GetParam().shape;
  std::mt19937 rng(23);
  const std::vector<float> x = Normal(InputSize(s), rng);
  const std::vector<float> w = Normal(s.outputs * s.channels * 9, rng);
  const std::vector<float> bias = Normal(s.outputs, rng);
  const int64_t tiles = s.tiles();
  std::vector<float> u(kWinograd23Points * s.channels * s.outputs);
  Winograd23Weights(w.data(), s.outputs, s.channels, u.data());
  std::vector<float> v(kWinograd23Points * tiles * s.channels);
  Winograd23Input(x.data(), ElementType::kF32, s, All(s), v.data(), ElementType::kF32);
  std::vector<float> m(kWinograd23Points * tiles * s.outputs, 0.0f);
  for (int p = 0; p < kWinograd23Points; ++p)
    for (int64_t t = 0; t < tiles; ++t)
      for (int64_t c = 0; c < s.channels; ++c)
        for (int64_t o = 0; o < s.outputs; ++o)
          m[(p * tiles + t) * s.outputs + o] +=
              v[(p * tiles + t) * s.channels + c] * u[(p * s.channels + c) * s.outputs + o];
  // A residual operand in dst, then relu: relu(conv + bias + residual).
  const std::vector<float> residual = Normal(OutputSize(s), rng);
  std::vector<float> y = residual;
  Winograd23Epilogue e;
  e.bias = bias.data();
  e.add_destination = true;
  e.relu = true;
  Winograd23Output(m.data(), s, All(s), e, y.data(), ElementType::kF32);
  const std::vector<double> conv = DirectConvolution(s, x, w, bias);
  const double tolerance = 1e-5 * std::sqrt(9.0 * s.channels) * 8;
  for (size_t i = 0; i < conv.size(); ++i) {
    ASSERT_NEAR(y[i], std::max(0.0, conv[i] + residual[i]), tolerance) << "output " << i;
  }
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, Winograd23Test,
    ::testing::Values(
        // same padding, odd sizes, a channel tail on both sides
        Case{"same_odd", {2, 7, 5, 19, 7, 5, 21, 1, 1}},
        // no padding: the output shrinks by 2
        Case{"valid", {1, 9, 8, 16, 7, 6, 16, 0, 0}},
        // padding 2: the output grows by 2
        Case{"pad_two", {1, 4, 3, 5, 6, 5, 3, 2, 2}},
        // a 1x1 image
        Case{"single_pixel", {1, 1, 1, 17, 1, 1, 33, 1, 1}},
        // a ResNet shape, channel vectors without tail
        Case{"resnet_14x14", {1, 14, 14, 64, 14, 14, 32, 1, 1}}),
    [](const auto& info) { return std::string(info.param.name); });

TEST(Winograd23WeightsTest, ACentreTapIsTheIdentityAtTheCentrePoints) {
  // w = centre 1: G w G^T = column (0, 1/2, -1/2, 0) times its transpose.
  float w[9] = {0, 0, 0, 0, 1, 0, 0, 0, 0};
  float u[16];
  Winograd23Weights(w, 1, 1, u);
  const float g[4] = {0, 0.5f, -0.5f, 0};
  for (int i = 0; i < 4; ++i)
    for (int j = 0; j < 4; ++j) EXPECT_EQ(u[i * 4 + j], g[i] * g[j]) << i << "," << j;
}

}  // namespace
}  // namespace kiln::kernels::cpu

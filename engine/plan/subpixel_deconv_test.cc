// The sub-pixel form against a scalar transposed convolution: the stride-1
// convolution, shuffle and crop it describes (run here with scalar loops)
// must give the deconvolution's output exactly (up to float rounding).
#include "engine/plan/subpixel_deconv.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>

namespace kiln::engine::plan {
namespace {

int64_t Product(const Dims& dims, size_t from = 0) {
  int64_t p = 1;
  for (size_t i = from; i < dims.size(); ++i) p *= dims[i];
  return p;
}

Dims Unflatten(int64_t flat, const Dims& extents) {
  Dims index(extents.size());
  for (int i = static_cast<int>(extents.size()) - 1; i >= 0; --i) {
    index[i] = flat % extents[i];
    flat /= extents[i];
  }
  return index;
}

int64_t Flatten(const Dims& index, const Dims& extents) {
  int64_t flat = 0;
  for (size_t i = 0; i < extents.size(); ++i) flat = flat * extents[i] + index[i];
  return flat;
}

struct Tensor {
  Dims dims;
  std::vector<float> data;
};

// PyTorch's conv_transpose (dilation 1): every input element scatters
// x * W into out[s*j - p + k].
Tensor ScalarDeconv(const Tensor& x, const ConvAttrs& a, const Dims& out_spatial) {
  const Dims& w = a.weight.dims;
  const size_t spatial = x.dims.size() - 2;
  const int64_t g = a.groups, ig = w[0] / g, og = w[1];
  Dims in_spatial(x.dims.begin() + 2, x.dims.end()), kernel(w.begin() + 2, w.end());
  Tensor y{{x.dims[0], og * g}, {}};
  y.dims.insert(y.dims.end(), out_spatial.begin(), out_spatial.end());
  y.data.assign(Product(y.dims), 0.0f);
  const int64_t in_size = Product(in_spatial), k_size = Product(kernel), out_size = Product(out_spatial);
  for (int64_t n = 0; n < x.dims[0]; ++n)
    for (int64_t ci = 0; ci < x.dims[1]; ++ci)
      for (int64_t j = 0; j < in_size; ++j) {
        const float v = x.data[(n * x.dims[1] + ci) * in_size + j];
        const Dims jj = Unflatten(j, in_spatial);
        for (int64_t ol = 0; ol < og; ++ol)
          for (int64_t k = 0; k < k_size; ++k) {
            const Dims kk = Unflatten(k, kernel);
            Dims o(spatial);
            bool inside = true;
            for (size_t i = 0; i < spatial; ++i) {
              o[i] = a.strides[i] * jj[i] - a.padding_l[i] + kk[i];
              inside &= o[i] >= 0 && o[i] < out_spatial[i];
            }
            if (!inside) continue;
            const int64_t co = (ci / ig) * og + ol;
            y.data[(n * y.dims[1] + co) * out_size + Flatten(o, out_spatial)] +=
                v * a.weight.data[(ci * og + ol) * k_size + k];
          }
      }
  if (a.has_bias) {
    for (int64_t i = 0; i < Product(y.dims); ++i) y.data[i] += a.bias.data[(i / out_size) % y.dims[1]];
  }
  return y;
}

// Stride-1 correlation with left/right padding and groups.
Tensor ScalarConv(const Tensor& x, const ConvAttrs& a, const Dims& out_dims) {
  const Dims& w = a.weight.dims;  // (O, I/g, m...)
  const size_t spatial = x.dims.size() - 2;
  const int64_t g = a.groups, ig = w[1], og = w[0] / g;
  Dims in_spatial(x.dims.begin() + 2, x.dims.end()), kernel(w.begin() + 2, w.end());
  Dims out_spatial(out_dims.begin() + 2, out_dims.end());
  Tensor y{out_dims, std::vector<float>(Product(out_dims), 0.0f)};
  const int64_t in_size = Product(in_spatial), k_size = Product(kernel), out_size = Product(out_spatial);
  for (int64_t n = 0; n < x.dims[0]; ++n)
    for (int64_t co = 0; co < out_dims[1]; ++co)
      for (int64_t q = 0; q < out_size; ++q) {
        const Dims qq = Unflatten(q, out_spatial);
        double sum = a.has_bias ? a.bias.data[co] : 0.0;
        for (int64_t ci = 0; ci < ig; ++ci)
          for (int64_t k = 0; k < k_size; ++k) {
            const Dims kk = Unflatten(k, kernel);
            Dims i_pos(spatial);
            bool inside = true;
            for (size_t i = 0; i < spatial; ++i) {
              i_pos[i] = qq[i] - a.padding_l[i] + kk[i];
              inside &= i_pos[i] >= 0 && i_pos[i] < in_spatial[i];
            }
            if (!inside) continue;
            const int64_t in_channel = (co / og) * ig + ci;
            sum += x.data[(n * x.dims[1] + in_channel) * in_size + Flatten(i_pos, in_spatial)] *
                   a.weight.data[(co * ig + ci) * k_size + k];
          }
        y.data[(n * out_dims[1] + co) * out_size + q] = static_cast<float>(sum);
      }
  return y;
}

// Depth to space over every spatial dim, then the crop.
Tensor ShuffleAndCrop(const Tensor& c, const SubPixelDeconv& form, const Dims& out_spatial,
                      int64_t groups) {
  const size_t spatial = form.factors.size();
  const int64_t phases = Product(form.factors);
  Dims conv_spatial(c.dims.begin() + 2, c.dims.end());
  Tensor y{{c.dims[0], form.shuffled[1]}, {}};
  y.dims.insert(y.dims.end(), out_spatial.begin(), out_spatial.end());
  y.data.assign(Product(y.dims), 0.0f);
  const int64_t out_size = Product(out_spatial), conv_size = Product(conv_spatial);
  for (int64_t n = 0; n < y.dims[0]; ++n)
    for (int64_t o = 0; o < y.dims[1]; ++o)
      for (int64_t q = 0; q < out_size; ++q) {
        const Dims qq = Unflatten(q, out_spatial);
        Dims r(spatial), a(spatial);
        for (size_t i = 0; i < spatial; ++i) {
          const int64_t full = qq[i] + form.crop_offset[i];
          r[i] = full % form.factors[i];
          a[i] = full / form.factors[i];
        }
        const int64_t per_group = y.dims[1] / groups, group = o / per_group;
        const int64_t channel = (group * phases + Flatten(r, form.factors)) * per_group + o % per_group;
        y.data[(n * y.dims[1] + o) * out_size + q] =
            c.data[(n * c.dims[1] + channel) * conv_size + Flatten(a, conv_spatial)];
      }
  return y;
}

struct Case {
  const char* name;
  Dims src, weight;  // weight (I, O/g, K...)
  Dims strides, padding, output_padding;
  int64_t groups;
  bool bias;
};

class SubPixelDeconvTest : public ::testing::TestWithParam<Case> {};

TEST_P(SubPixelDeconvTest, MatchesScalarDeconvolution) {
  const Case& c = GetParam();
  std::mt19937 rng(7);
  std::normal_distribution<float> normal;
  auto random = [&](const Dims& dims) {
    std::vector<float> v(Product(dims));
    for (float& x : v) x = normal(rng);
    return v;
  };
  ConvAttrs deconv;
  deconv.strides = c.strides;
  deconv.padding_l = deconv.padding_r = c.padding;
  deconv.dilation = Dims(c.strides.size(), 1);
  deconv.output_padding = c.output_padding;
  deconv.groups = c.groups;
  deconv.weight = Constant::Own(c.weight, random(c.weight));
  deconv.has_bias = c.bias;
  const int64_t out_channels = c.weight[1] * c.groups;
  if (c.bias) deconv.bias = Constant::Own({out_channels}, random({out_channels}));
  Dims out_spatial;
  for (size_t i = 0; i < c.strides.size(); ++i) {
    out_spatial.push_back((c.src[2 + i] - 1) * c.strides[i] - 2 * c.padding[i] + c.weight[2 + i] +
                          c.output_padding[i]);
  }
  Dims dst = {c.src[0], out_channels};
  dst.insert(dst.end(), out_spatial.begin(), out_spatial.end());

  auto form = MakeSubPixelDeconv(deconv, c.src, dst);
  ASSERT_TRUE(form.ok()) << form.status();
  EXPECT_EQ(form->shuffled[1], out_channels);
  for (size_t i = 0; i < out_spatial.size(); ++i) {
    EXPECT_GE(form->shuffled[2 + i], form->crop_offset[i] + out_spatial[i]) << "dim " << i;
  }
  const Tensor x{c.src, random(c.src)};
  const Tensor expected = ScalarDeconv(x, deconv, out_spatial);
  const Tensor actual =
      ShuffleAndCrop(ScalarConv(x, form->conv, form->conv_output), *form, out_spatial, c.groups);
  ASSERT_EQ(actual.dims, expected.dims);
  double worst = 0;
  for (size_t i = 0; i < expected.data.size(); ++i) {
    worst = std::max(worst, static_cast<double>(std::fabs(actual.data[i] - expected.data[i])));
  }
  EXPECT_LT(worst, 1e-4) << c.name;
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, SubPixelDeconvTest,
    ::testing::Values(
        Case{"dcgan_k4_s2_p1", {1, 3, 4, 5}, {3, 2, 4, 4}, {2, 2}, {1, 1}, {0, 0}, 1, true},
        Case{"k3_s2_p1_output_padding", {2, 4, 5, 7}, {4, 3, 3, 3}, {2, 2}, {1, 1}, {1, 1}, 1, true},
        Case{"grouped_k4_s2_p0", {1, 4, 6, 6}, {4, 3, 4, 4}, {2, 2}, {0, 0}, {0, 0}, 2, false},
        Case{"stride1_from_1x1", {1, 5, 1, 1}, {5, 3, 4, 4}, {1, 1}, {0, 0}, {0, 0}, 1, true},
        Case{"stride1_padded", {1, 2, 5, 4}, {2, 3, 3, 3}, {1, 1}, {1, 1}, {0, 0}, 1, false},
        Case{"uneven_strides", {1, 2, 4, 5}, {2, 2, 5, 3}, {3, 2}, {2, 0}, {1, 1}, 1, true},
        Case{"large_padding", {1, 2, 6, 6}, {2, 2, 3, 3}, {2, 2}, {2, 2}, {0, 0}, 1, true},
        Case{"audio_1d_k8_s4", {1, 3, 9}, {3, 2, 8}, {4}, {0}, {0}, 1, true},
        Case{"conv1d_k5_s3_p2", {2, 2, 7}, {2, 4, 5}, {3}, {2}, {2}, 1, true}),
    [](const auto& info) { return std::string(info.param.name); });

TEST(SubPixelDeconv, DilationIsNotRewritten) {
  ConvAttrs deconv;
  deconv.strides = {2, 2};
  deconv.padding_l = deconv.padding_r = {0, 0};
  deconv.dilation = {2, 2};
  deconv.weight = Constant::Own({1, 1, 3, 3}, std::vector<float>(9, 1.0f));
  EXPECT_EQ(MakeSubPixelDeconv(deconv, {1, 1, 4, 4}, {1, 1, 11, 11}).status().code(),
            absl::StatusCode::kUnimplemented);
}

TEST(SubPixelDeconv, Dcgan4x4LayerShapes) {
  // k4 s2 p1 on 4x4: 2x2 taps, left padding 1, 5x5 positions per phase, the
  // 10x10 shuffle cropped at 1 to 8x8.
  ConvAttrs deconv;
  deconv.strides = {2, 2};
  deconv.padding_l = deconv.padding_r = {1, 1};
  deconv.dilation = {1, 1};
  deconv.weight = Constant::Own({8, 4, 4, 4}, std::vector<float>(8 * 4 * 16, 1.0f));
  auto form = MakeSubPixelDeconv(deconv, {1, 8, 4, 4}, {1, 4, 8, 8});
  ASSERT_TRUE(form.ok());
  EXPECT_EQ(form->conv.weight.dims, (Dims{16, 8, 2, 2}));
  EXPECT_EQ(form->conv.padding_l, (Dims{1, 1}));
  EXPECT_EQ(form->conv_output, (Dims{1, 16, 5, 5}));
  EXPECT_EQ(form->shuffled, (Dims{1, 4, 10, 10}));
  EXPECT_EQ(form->crop_offset, (Dims{1, 1}));
  EXPECT_TRUE(form->needs_crop);
}

}  // namespace
}  // namespace kiln::engine::plan

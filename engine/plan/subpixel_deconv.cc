#include "engine/plan/subpixel_deconv.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace kiln::engine::plan {
namespace {

// Row-major multi-index of `flat` over `extents`.
Dims Unflatten(int64_t flat, const Dims& extents) {
  Dims index(extents.size());
  for (int i = static_cast<int>(extents.size()) - 1; i >= 0; --i) {
    index[i] = flat % extents[i];
    flat /= extents[i];
  }
  return index;
}

}  // namespace

absl::StatusOr<SubPixelDeconv> MakeSubPixelDeconv(const ConvAttrs& deconv, const Dims& src,
                                                  const Dims& dst) {
  const Dims& w = deconv.weight.dims;  // (I, O/g, K...)
  const size_t spatial = src.size() - 2;
  if (w.size() != spatial + 2 || dst.size() != src.size() || deconv.strides.size() != spatial ||
      deconv.padding_l.size() != spatial) {
    return absl::InvalidArgumentError("deconvolution dims do not agree");
  }
  for (int64_t d : deconv.dilation) {
    if (d != 1) return absl::UnimplementedError("dilated deconvolution");
  }
  const int64_t groups = deconv.groups;
  const int64_t in_per_group = w[0] / groups, out_per_group = w[1];
  const int64_t out_channels = out_per_group * groups;

  SubPixelDeconv form;
  Dims taps(spatial);  // m per dim
  form.conv_output = {src[0], 0};
  form.shuffled = {src[0], out_channels};
  for (size_t i = 0; i < spatial; ++i) {
    const int64_t s = deconv.strides[i], k = w[2 + i], p = deconv.padding_l[i];
    const int64_t length = src[2 + i], out = dst[2 + i];
    const int64_t m = (k + s - 1) / s;
    // Whole multiples of s of the padding are dropped by the convolution's
    // own (smaller) left padding; the remainder is cropped after the shuffle.
    const int64_t whole = std::min(p / s, m - 1);
    const int64_t left = m - 1 - whole;
    const int64_t offset = p - s * whole;
    int64_t positions = (out + offset + s - 1) / s;
    int64_t right = positions - length - left + m - 1;
    if (right < 0) {
      right = 0;
      positions = length + left - m + 1;
    }
    if (positions < 1 || offset + out > positions * s) {
      return absl::UnimplementedError(absl::StrCat("deconvolution padding ", p, " too large"));
    }
    taps[i] = m;
    form.factors.push_back(s);
    form.conv.strides.push_back(1);
    form.conv.dilation.push_back(1);
    form.conv.padding_l.push_back(left);
    form.conv.padding_r.push_back(right);
    form.conv_output.push_back(positions);
    form.shuffled.push_back(positions * s);
    form.crop_offset.push_back(offset);
    form.needs_crop |= offset != 0 || positions * s != out;
  }
  const int64_t phases = Product(form.factors);
  form.conv_output[1] = out_channels * phases;
  form.conv.groups = groups;

  // Weight (O*S, I/g, m...): out channel (group*S + phase)*O/g + local, tap k
  // reads the deconvolution's tap s*(m-1-k) + r, or zero past the kernel's
  // end.
  const int64_t tap_count = Product(taps);
  const int64_t kernel_size = Product(Dims(w.begin() + 2, w.end()));
  std::vector<float> weight(out_channels * phases * in_per_group * tap_count, 0.0f);
  for (int64_t o = 0; o < out_channels; ++o) {
    const int64_t group = o / out_per_group, local_out = o % out_per_group;
    for (int64_t phase = 0; phase < phases; ++phase) {
      const Dims r = Unflatten(phase, form.factors);
      for (int64_t tap = 0; tap < tap_count; ++tap) {
        const Dims t = Unflatten(tap, taps);
        int64_t source_tap = 0;
        bool inside = true;
        for (size_t i = 0; i < spatial; ++i) {
          const int64_t index = form.factors[i] * (taps[i] - 1 - t[i]) + r[i];
          inside &= index < w[2 + i];
          source_tap = source_tap * w[2 + i] + index;
        }
        if (!inside) continue;
        for (int64_t ci = 0; ci < in_per_group; ++ci) {
          const int64_t in_channel = group * in_per_group + ci;
          const float value =
              deconv.weight.data[(in_channel * out_per_group + local_out) * kernel_size + source_tap];
          const int64_t channel = (group * phases + phase) * out_per_group + local_out;
          weight[(channel * in_per_group + ci) * tap_count + tap] = value;
        }
      }
    }
  }
  Dims weight_dims = {out_channels * phases, in_per_group};
  weight_dims.insert(weight_dims.end(), taps.begin(), taps.end());
  form.conv.weight = Constant::Own(std::move(weight_dims), std::move(weight));
  if (deconv.has_bias) {
    std::vector<float> bias(out_channels * phases);
    for (int64_t c = 0; c < out_channels * phases; ++c) {
      const int64_t group = c / (phases * out_per_group), local_out = c % out_per_group;
      bias[c] = deconv.bias.data[group * out_per_group + local_out];
    }
    form.conv.bias = Constant::Own({out_channels * phases}, std::move(bias));
    form.conv.has_bias = true;
  }
  return form;
}

}  // namespace kiln::engine::plan

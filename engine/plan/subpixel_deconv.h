// A transposed convolution rewritten as a stride-1 convolution followed by a
// depth-to-space shuffle and a crop ("sub-pixel convolution").
//
// Why: oneDNN 2.6's deconvolution kernels are slow for the shapes generators
// and audio decoders use (2-4 GFLOP/s for dcgan's last layer or a stride-4
// conv_transpose1d), while its forward convolutions run near peak. A
// deconvolution with stride s and kernel K (padded with zero taps up to
// K' = s*m) computes, for each output phase r in [0, s) per spatial dim,
//     full[s*J + r] = sum_t x[J - t] * W[s*t + r],   t in [0, m)
// which is a stride-1 correlation with the flipped taps W[s*(m-1-k) + r].
// All S = s^d phases become output channels of one convolution, phase-major
// within each group (channel = group*S*O/g + phase*O/g + channel in group;
// phase row-major over the spatial dims) so that a channels-last result is
// interleaved by copying runs of O/g contiguous values; a depth-to-space
// reorder interleaves them, and the deconvolution's padding becomes
// the convolution's padding (whole multiples of s) plus a crop (the rest).
//
// Pure arithmetic on the IR's constants; no oneDNN.
#ifndef KILN_ENGINE_PLAN_SUBPIXEL_DECONV_H_
#define KILN_ENGINE_PLAN_SUBPIXEL_DECONV_H_

#include "absl/status/statusor.h"
#include "engine/plan/ir.h"

namespace kiln::engine::plan {

struct SubPixelDeconv {
  // Stride-1, undilated convolution: weight (O*S, I/g, m...) in PyTorch's
  // conv layout, S = product of the strides, channels ordered as above; bias
  // replicated per phase.
  ConvAttrs conv;
  Dims conv_output;     // (N, O*S, A...) the convolution's output dims
  Dims factors;         // stride per spatial dim: the shuffle's factors
  Dims shuffled;        // (N, O, A*s...) after the shuffle
  Dims crop_offset;     // where the deconvolution's output starts in `shuffled`
  bool needs_crop = false;  // shuffled != the deconvolution's output
};

// `deconv` in the IR's layout (weight (I, O/g, K...)); `src` (N, I, L...)
// and `dst` (N, O, out...) the deconvolution's input and output dims.
// Unimplemented for dilated deconvolutions and for paddings so large that the
// convolution would need negative padding.
absl::StatusOr<SubPixelDeconv> MakeSubPixelDeconv(const ConvAttrs& deconv, const Dims& src,
                                                  const Dims& dst);

}  // namespace kiln::engine::plan

#endif  // KILN_ENGINE_PLAN_SUBPIXEL_DECONV_H_

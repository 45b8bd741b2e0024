// A convolution with few output channels and a tall kernel (an image
// generator's last layer: 64 -> 3 channels, 9x9) rewritten as two
// convolutions oneDNN runs near peak.
//
// Why: oneDNN pads output channels to its 16-wide blocks, so a 3-channel
// output wastes 5/6 of every FMA (SRGAN's 9x9 output layer ran at ~86 of 466
// GFLOP/s and took a third of the model). Splitting the kernel rows:
//   A: kernel 1 x kw, O*kh outputs t[(o, ky)] = sum_{c,kx} W[o,c,ky,kx] x[c, y', x+kx]
//      (padded rows included: A carries the vertical padding, stride 1),
//   B: kernel kh x 1 over t, B[o] = sum_ky t[(o, ky)] shifted by ky rows (+ bias),
// gives the same result; A does all the work with O*kh outputs (27 for
// O = 3, kh = 9: 84 % of each 32-wide block used) and B is ~kh*C/(O*kh) =
// C/O times cheaper than the original.
#ifndef KILN_ENGINE_PLAN_SPLIT_NARROW_CONV_H_
#define KILN_ENGINE_PLAN_SPLIT_NARROW_CONV_H_

#include "engine/plan/ir.h"

namespace kiln::engine::plan {

// Rewrites every 2-d, ungrouped, undilated convolution with constant weights,
// no post-ops yet, at most 8 output channels, a kernel at least 3 rows tall
// and enough work to matter (>= 2 MFLOP). Returns the convolutions split.
// Run before the activation fusions (they then land on B).
int SplitNarrowConvolutions(Graph& graph);

}  // namespace kiln::engine::plan

#endif  // KILN_ENGINE_PLAN_SPLIT_NARROW_CONV_H_

// The accuracy checker's comparison: a compiled plan's outputs against the
// reference (TorchScript, fp32) outputs for the same input.
//
// After every plan build Kiln runs the reference and the plan on the input
// that triggered the build and compares each output here. A failed report
// makes the rebuilder retry at fp32 (when the plan used bf16) or keep the
// reference path for that key; every report becomes a metric and one log
// line (AccuracyReport::Summary).
//
// The functions here are pure: no state, no locks; safe from any thread.
// Tensors are only read. Malformed input (mismatched counts, shapes, dtypes,
// byte sizes) is reported as a failed comparison, never a crash.
#ifndef KILN_ENGINE_ACCURACY_H_
#define KILN_ENGINE_ACCURACY_H_

#include <cstdint>
#include <string>
#include <vector>

#include "engine/tensor.h"

namespace kiln::engine {

// The precision a plan computes in. The reference is always fp32.
enum class Precision { kFp32, kBf16 };

// How close a floating-point output must be to the reference. An output
// passes when ALL of these hold:
//   allclose:  |plan - ref| <= atol + rtol * |ref| for every element, where
//              atol = atol_fraction * max|ref|  (scaling atol by the output's
//              own magnitude makes one tolerance fit logits of 1e-3 and
//              activations of 1e3 alike);
//   cosine:    cosine_similarity(plan, ref) >= min_cosine;
//   max abs:   max |plan - ref| <= max_abs_fraction * max|ref|.
// Integer and bool outputs ignore the tolerance: they must match exactly.
struct Tolerance {
  double rtol = 0;
  double atol_fraction = 0;
  double min_cosine = 0;
  double max_abs_fraction = 0;
};

// The documented defaults per plan precision. Per-model parameters may only
// tighten them.
//
// The product promise, whatever the precision: every output keeps cosine
// similarity >= 0.999 with the fp32 reference and a max abs error <= 5% of the
// reference's max |value|.
//
//   kFp32: rtol 1e-4, atol 1e-4 * max|ref|, cosine >= 0.99999,
//          max abs <= 5% of max|ref|.
//     An fp32 plan computes the same math as the reference; it differs only
//     in summation order (blocked oneDNN kernels, fused post-ops), which in
//     fp32 (24 mantissa bits, eps ~1.2e-7) costs at most a few 1e-6 relative
//     even over the long reductions of a ResNet or BERT. 1e-4 leaves two
//     orders of margin for that and still catches a wrong lowering, which
//     errs by percents. The allclose bound already caps the max abs error at
//     2e-4 * max|ref|, far inside the 5% promise.
//
//   kBf16: rtol 2e-2, atol 2e-2 * max|ref|, cosine >= 0.999,
//          max abs <= 5% of max|ref|.
//     bf16 keeps fp32's exponent but only 8 mantissa bits: one rounding
//     errs by up to 2^-9 ~ 0.2% relative, and weights, activations and
//     partial results are each rounded, so errors of ~1% accumulate through a
//     deep network. 2e-2 admits that and rejects what bf16 cannot explain.
//     Cosine and max abs are set at exactly the product promise.
Tolerance DefaultTolerance(Precision precision);

// The comparison of one output.
struct OutputComparison {
  std::string name;
  // Over the elements where both reference and plan are finite.
  double max_abs_error = 0;
  // max |plan - ref| / |ref| over the elements whose |ref| is at least the
  // allclose atol, where a relative error means something (near-zero
  // references would make it arbitrarily large). Informational; pass/fail
  // uses allclose.
  double max_rel_error = 0;
  // 1 when both outputs are all zero; 0 when exactly one is.
  double cosine = 0;
  double reference_max_abs = 0;  // max |ref| over the finite elements
  // Elements outside allclose (float outputs) or not equal (integer and bool
  // outputs), non-finite mismatches included. A NaN or Inf matches only the
  // same non-finite value (NaN with NaN, +Inf with +Inf) at the same position.
  int64_t mismatches = 0;
  int64_t elements = 0;
  bool passed = false;
  // Empty when passed; otherwise every failed criterion, "; "-separated, e.g.
  // "cosine 0.981234 < 0.999; 97 of 1000 elements outside allclose (...)".
  std::string reason;
};

struct AccuracyReport {
  bool passed = false;  // every output passed (and the output counts agree)
  std::vector<OutputComparison> outputs;
  // How the verdict was reached when not by the plain tolerance, e.g. "within
  // the reference's own sensitivity to 1e-06 input noise"; in the summary.
  std::string basis;

  // One log line: the verdict and, per output, cosine and max errors, plus
  // the reason of each failed output.
  std::string Summary() const;
};

// Compares `plan[i]` with `reference[i]` for every i. `names[i]` labels output
// i in the report ("output <i>" when `names` is shorter). Float outputs
// (float16, bfloat16, float32, float64) are held to `tolerance`; integer and
// bool outputs must match exactly. An output whose dtype or shape differs
// from the reference fails with a reason naming what was expected and what
// came; a count mismatch fails the missing or extra outputs.
AccuracyReport CompareOutputs(const std::vector<Tensor>& reference,
                              const std::vector<Tensor>& plan,
                              const std::vector<std::string>& names,
                              const Tolerance& tolerance);

// The conditioning-aware re-check. Some outputs amplify rounding-level
// differences by design: the boxes and scores of a detector pass through
// proposal decoding, top-k, NMS and ROI sampling, and move by 1e-1 when the
// input moves by one ulp. The fp32 tolerance would reject every plan of such
// a model although the reference is no steadier against itself.
// `sensitivity[i]` is the largest change of output i the reference showed on
// inputs perturbed at the plan's own error level (engine/sensitivity.h); an
// output that fails `tolerance` is compared again with its allclose atol
// raised to `factor` * sensitivity[i]. Everything else is unchanged: rtol,
// cosine and the max-abs promise still apply, integer and bool outputs must
// still match exactly, shapes must agree.
AccuracyReport CompareWithinSensitivity(const std::vector<Tensor>& reference,
                                        const std::vector<Tensor>& plan,
                                        const std::vector<std::string>& names,
                                        const Tolerance& tolerance,
                                        const std::vector<double>& sensitivity, double factor);

}  // namespace kiln::engine

#endif  // KILN_ENGINE_ACCURACY_H_

// How steady the reference is against itself: the input to the accuracy
// checker's conditioning-aware re-check (CompareWithinSensitivity in
// accuracy.h).
//
// A plan differs from the reference by rounding: its compiled segments were
// each checked and err at some small relative level. Running the reference on
// inputs perturbed at that level shows how far each output moves from such
// differences alone; outputs that amplify them (detections after NMS) move
// far, well-conditioned outputs barely at all, so the re-check loosens only
// where the model itself is unsteady.
#ifndef KILN_ENGINE_SENSITIVITY_H_
#define KILN_ENGINE_SENSITIVITY_H_

#include <ATen/ATen.h>
#include <ATen/core/ivalue.h>
#include <torch/csrc/jit/ir/ir.h>

#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/segment/compiled_graph.h"

namespace kiln::engine {

// Runs `graph` `runs` times on `stack` with every floating-point input tensor
// multiplied elementwise by (1 + noise * N(0, 1)) (fixed seeds: the same
// inputs give the same answer) and returns, per output of `reference` (the
// flattened reference outputs for `stack`), the largest max-abs change seen.
// A run where an output changes shape or dtype does not count for it.
// Errors: Internal when the reference fails on a perturbed input.
absl::StatusOr<std::vector<double>> ReferenceSensitivity(
    const std::shared_ptr<torch::jit::Graph>& graph, const std::vector<c10::IValue>& stack,
    const std::vector<at::Tensor>& reference, double noise, int runs);

// The relative error level of a plan's compiled segments: the largest
// max-abs error over max |ref| among their checks, kept within
// [1e-7, 1e-2] (one fp32 ulp .. bf16's few roundings).
double SegmentErrorLevel(const segment::PlanReport& report);

}  // namespace kiln::engine

#endif  // KILN_ENGINE_SENSITIVITY_H_

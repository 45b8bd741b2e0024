#include "engine/sensitivity.h"

#include <ATen/core/Generator.h>
#include <ATen/CPUGeneratorImpl.h>
#include <torch/csrc/jit/runtime/interpreter.h>

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "engine/compiler.h"

namespace kiln::engine {
namespace {

c10::IValue Perturbed(const c10::IValue& value, double noise, at::Generator& generator) {
  if (!value.isTensor()) return value;
  const at::Tensor& t = value.toTensor();
  if (!t.is_floating_point() || t.numel() == 0) return value;
  const at::Tensor factor =
      at::randn(t.sizes(), generator, t.options().dtype(at::kDouble)).mul_(noise).add_(1.0);
  return (t.to(at::kDouble) * factor).to(t.scalar_type());
}

}  // namespace

absl::StatusOr<std::vector<double>> ReferenceSensitivity(
    const std::shared_ptr<torch::jit::Graph>& graph, const std::vector<c10::IValue>& stack,
    const std::vector<at::Tensor>& reference, double noise, int runs) {
  std::vector<double> sensitivity(reference.size(), 0.0);
  torch::jit::Code code(graph, "kiln_sensitivity");
  for (int run = 0; run < runs; ++run) {
    at::Generator generator = at::detail::createCPUGenerator(0x5e45 + run);
    std::vector<c10::IValue> perturbed;
    for (const c10::IValue& v : stack) perturbed.push_back(Perturbed(v, noise, generator));
    try {
      torch::jit::InterpreterState(code).run(perturbed);
    } catch (const std::exception& e) {
      return absl::InternalError(
          absl::StrCat("reference failed on a perturbed input: ", e.what()));
    }
    const std::vector<at::Tensor> outputs = FlattenTensors(perturbed);
    for (size_t i = 0; i < reference.size() && i < outputs.size(); ++i) {
      const at::Tensor& a = reference[i];
      const at::Tensor& b = outputs[i];
      if (a.sizes() != b.sizes() || a.scalar_type() != b.scalar_type() || a.numel() == 0) continue;
      const double change =
          (b.to(at::kDouble) - a.to(at::kDouble)).abs().nan_to_num(0, 0, 0).max().item<double>();
      sensitivity[i] = std::max(sensitivity[i], change);
    }
  }
  return sensitivity;
}

double SegmentErrorLevel(const segment::PlanReport& report) {
  double level = 0;
  for (const segment::SegmentSummary& s : report.segments) {
    if (s.precision.empty()) continue;
    for (const OutputComparison& o : s.check.outputs) {
      if (o.reference_max_abs > 0) level = std::max(level, o.max_abs_error / o.reference_max_abs);
    }
  }
  return std::clamp(level, 1e-7, 1e-2);
}

}  // namespace kiln::engine

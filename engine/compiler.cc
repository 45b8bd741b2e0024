#include "engine/compiler.h"

#include <algorithm>
#include <chrono>
#include <map>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "engine/sensitivity.h"
#include "engine/torch_tensor.h"

namespace kiln::engine {
namespace {

void Flatten(const c10::IValue& value, std::vector<at::Tensor>* out) {
  if (value.isTensor()) {
    out->push_back(value.toTensor());
  } else if (value.isTuple()) {
    for (const c10::IValue& v : value.toTupleRef().elements()) Flatten(v, out);
  } else if (value.isList()) {
    for (const c10::IValue& v : value.toListRef()) Flatten(v, out);
  } else if (value.isGenericDict()) {
    for (const auto& entry : value.toGenericDict()) Flatten(entry.value(), out);
  }
}

// Flattened outputs as engine tensors (sharing LibTorch's storage, so the
// at::Tensors must outlive them), named "output <i>".
struct EngineOutputs {
  std::vector<Tensor> reference, plan;
  std::vector<std::string> names;
};

EngineOutputs ToEngine(const std::vector<at::Tensor>& reference,
                       const std::vector<at::Tensor>& plan) {
  EngineOutputs out;
  for (size_t i = 0; i < reference.size(); ++i) {
    auto r = FromTorch(reference[i]);
    if (r.ok()) out.reference.push_back(*std::move(r));
    out.names.push_back(absl::StrCat("output ", i));
  }
  for (const at::Tensor& t : plan) {
    auto p = FromTorch(t);
    if (p.ok()) out.plan.push_back(*std::move(p));
  }
  return out;
}

// Runs of the perturbed reference, and how far beyond the reference's own
// movement a plan output may go (see CompareWithinSensitivity).
constexpr int kSensitivityRuns = 3;
constexpr double kSensitivityFactor = 4;

// The whole-plan check on the triggering input: the tolerance first; when
// that fails, the conditioning-aware re-check against the reference's own
// sensitivity at the segments' error level. Returns the first failure when
// the re-check does not pass either.
AccuracyReport CheckPlan(const std::shared_ptr<torch::jit::Graph>& graph,
                         const std::vector<c10::IValue>& stack,
                         const std::vector<c10::IValue>& reference,
                         const std::vector<c10::IValue>& plan_outputs,
                         const segment::PlanReport& report, const Tolerance& tolerance) {
  const std::vector<at::Tensor> ref = FlattenTensors(reference), got = FlattenTensors(plan_outputs);
  const EngineOutputs flat = ToEngine(ref, got);
  AccuracyReport check = CompareOutputs(flat.reference, flat.plan, flat.names, tolerance);
  if (check.passed) return check;
  const double noise = SegmentErrorLevel(report);
  auto sensitivity = ReferenceSensitivity(graph, stack, ref, noise, kSensitivityRuns);
  if (!sensitivity.ok()) return check;
  AccuracyReport relaxed = CompareWithinSensitivity(flat.reference, flat.plan, flat.names,
                                                    tolerance, *sensitivity, kSensitivityFactor);
  if (!relaxed.passed) return check;
  std::vector<std::string> moves;
  for (double m : *sensitivity) moves.push_back(absl::StrFormat("%.3g", m));
  relaxed.basis = absl::StrFormat(
      "within the reference's own sensitivity (under %.1e relative input noise its outputs "
      "move by up to %s)",
      noise, absl::StrJoin(moves, ", "));
  return relaxed;
}

// "3 nodes left to TorchScript: 2 x aten::conv2d (weight is computed at run
// time), 1 x ..." - why nothing compiled, most frequent reasons first.
std::string LeftSummary(const segment::PlanReport& report) {
  std::map<std::string, int> counts;
  for (const segment::LeftNode& n : report.left) ++counts[absl::StrCat(n.kind, " (", n.reason, ")")];
  std::vector<std::pair<int, std::string>> ordered;
  for (const auto& [what, count] : counts) ordered.push_back({-count, what});
  std::sort(ordered.begin(), ordered.end());
  std::vector<std::string> parts;
  for (size_t i = 0; i < ordered.size() && i < 6; ++i) {
    parts.push_back(absl::StrCat(-ordered[i].first, " x ", ordered[i].second));
  }
  if (ordered.size() > 6) parts.push_back("...");
  return absl::StrCat(report.left.size(), " node(s) left to TorchScript: ",
                      absl::StrJoin(parts, ", "));
}

double MsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
      .count();
}

// Best of three runs of the plan and of the graph it was built from.
std::pair<double, double> BestOfThree(const std::shared_ptr<torch::jit::Graph>& graph,
                                      const segment::CompiledGraph& plan,
                                      const std::vector<c10::IValue>& stack) {
  torch::jit::Code reference(graph, "kiln_reference");
  double plan_ms = 1e300, reference_ms = 1e300;
  for (int i = 0; i < 3; ++i) {
    auto start = std::chrono::steady_clock::now();
    plan.Run(stack);
    plan_ms = std::min(plan_ms, MsSince(start));
    std::vector<c10::IValue> copy = stack;
    start = std::chrono::steady_clock::now();
    torch::jit::InterpreterState(reference).run(copy);
    reference_ms = std::min(reference_ms, MsSince(start));
  }
  return {plan_ms, reference_ms};
}

int WinogradConvolutions(const segment::PlanReport& report) {
  int n = 0;
  for (const segment::SegmentSummary& s : report.segments) n += s.plan.winograd_convolutions;
  return n;
}

}  // namespace

std::vector<at::Tensor> FlattenTensors(const std::vector<c10::IValue>& values) {
  std::vector<at::Tensor> out;
  for (const c10::IValue& v : values) Flatten(v, &out);
  return out;
}

std::vector<plan::PlanPrecision> PrecisionAttempts(PrecisionPolicy policy) {
  switch (policy) {
    case PrecisionPolicy::kFp32: return {plan::PlanPrecision::kFp32};
    // Asked for explicitly: bf16 even where it is emulated; still checked.
    case PrecisionPolicy::kBf16: return {plan::PlanPrecision::kBf16, plan::PlanPrecision::kFp32};
    case PrecisionPolicy::kAuto:
      if (plan::CpuHasNativeBf16()) return {plan::PlanPrecision::kBf16, plan::PlanPrecision::kFp32};
      return {plan::PlanPrecision::kFp32};
  }
  return {plan::PlanPrecision::kFp32};
}

absl::StatusOr<std::shared_ptr<KeyPlan>> BuildKeyPlan(
    const std::shared_ptr<torch::jit::Graph>& graph, const std::vector<c10::IValue>& stack,
    const CompilerOptions& options) {
  const auto start = std::chrono::steady_clock::now();
  auto key_plan = std::make_shared<KeyPlan>();
  struct Attempt {
    plan::PlanPrecision precision;
    plan::WinogradUse winograd;
  };
  std::vector<Attempt> attempts;
  for (plan::PlanPrecision p : PrecisionAttempts(options.precision)) {
    attempts.push_back({p, options.winograd});
  }
  for (size_t a = 0; a < attempts.size(); ++a) {
    const plan::PlanPrecision precision = attempts[a].precision;
    double plan_run_ms = 0;
    segment::CompileOptions compile;
    compile.precision = precision;
    compile.winograd = attempts[a].winograd;
    compile.ir_hook = options.ir_hook;
    std::vector<c10::IValue> reference;
    auto compiled = segment::CompiledGraph::Build(graph, stack, compile, &reference);
    if (!compiled.ok()) return compiled.status();
    key_plan->reference_outputs = reference;
    const segment::PlanReport& report = (*compiled)->report();
    if (report.compiled_segments() == 0) {
      key_plan->attempts.push_back(absl::StrCat(plan::PlanPrecisionName(precision),
                                                ": nothing compiled; ", LeftSummary(report)));
      break;  // another precision would not lower more
    }
    const Tolerance tolerance = DefaultTolerance(
        precision == plan::PlanPrecision::kBf16 ? Precision::kBf16 : Precision::kFp32);
    if (options.accuracy_check) {
      std::vector<c10::IValue> plan_outputs;
      const auto run_start = std::chrono::steady_clock::now();
      try {
        plan_outputs = (*compiled)->Run(stack);
        plan_run_ms = MsSince(run_start);
      } catch (const c10::Error& e) {
        key_plan->attempts.push_back(absl::StrCat(plan::PlanPrecisionName(precision),
                                                  ": plan failed to run: ",
                                                  e.what_without_backtrace()));
        continue;
      } catch (const std::exception& e) {
        key_plan->attempts.push_back(absl::StrCat(plan::PlanPrecisionName(precision),
                                                  ": plan failed to run: ", e.what()));
        continue;
      }
      key_plan->final_check =
          CheckPlan(graph, stack, reference, plan_outputs, report, tolerance);
      key_plan->checks.push_back({precision, key_plan->final_check.passed});
      if (!key_plan->final_check.passed) {
        const int winograd = WinogradConvolutions(report);
        key_plan->attempts.push_back(absl::StrCat(plan::PlanPrecisionName(precision),
                                                  winograd > 0 ? " (Winograd)" : "", ": ",
                                                  key_plan->final_check.Summary()));
        // Winograd rounds differently: the same precision without it next.
        if (winograd > 0) {
          attempts.insert(attempts.begin() + a + 1, {precision, plan::WinogradUse::kOff});
        }
        continue;
      }
    } else {
      key_plan->final_check.passed = true;
    }
    // A plan must also be faster than TorchScript on this shape (tiny or
    // unusual graphs can lose to the interpreter). Small models are measured,
    // best of three each; for large ones (a reference run of 200 ms or more,
    // estimated from profiling) one run each decides the clear cases.
    const double reference_estimate_ms = report.profile_ms / std::max(1, report.profiles);
    if (options.speed_check && plan_run_ms > 0 &&
        (reference_estimate_ms < 200 || plan_run_ms > 0.8 * reference_estimate_ms)) {
      const auto [plan_ms, reference_ms] = BestOfThree(graph, **compiled, stack);
      if (plan_ms >= reference_ms) {
        key_plan->attempts.push_back(absl::StrFormat(
            "%s: slower than TorchScript on this shape (%.3f ms vs %.3f ms); not kept",
            report.precision(), plan_ms, reference_ms));
        continue;  // fp32 may take other, faster implementations
      }
    }
    key_plan->attempts.push_back(absl::StrCat(report.precision(), ": ",
                                              key_plan->final_check.Summary()));
    key_plan->precision = report.precision();
    key_plan->first_run_ms = plan_run_ms;
    key_plan->graph = *std::move(compiled);
    break;
  }
  key_plan->build_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  return key_plan;
}

}  // namespace kiln::engine

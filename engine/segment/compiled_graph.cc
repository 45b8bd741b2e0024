#include "engine/segment/compiled_graph.h"

#include <chrono>

#include "absl/strings/str_cat.h"
#include "engine/plan/fusion.h"
#include "engine/segment/shape_profile.h"
#include "engine/segment/specialize_shapes.h"
#include "engine/torch_tensor.h"

namespace kiln::engine::segment {
namespace {

double MsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
      .count();
}

// Runs a compiled segment on the recorded inputs and compares with the
// recorded outputs.
AccuracyReport CheckSegment(const SegmentRunner& runner, const SegmentSpec& spec,
                            const std::vector<torch::jit::Value*>& recorded_inputs,
                            const ShapeProfile& profile, const Tolerance& tolerance) {
  AccuracyReport report;
  std::vector<at::Tensor> inputs;
  for (torch::jit::Value* v : recorded_inputs) inputs.push_back(profile.at(v).value);
  std::vector<at::Tensor> outputs;
  try {
    outputs = runner.Run(inputs);
  } catch (const c10::Error& e) {
    report.passed = false;
    OutputComparison failed;
    failed.name = "segment";
    failed.reason = e.what_without_backtrace();
    report.outputs.push_back(failed);
    return report;
  }
  std::vector<Tensor> reference, plan;
  std::vector<std::string> names;
  for (size_t i = 0; i < spec.outputs.size(); ++i) {
    reference.push_back(*FromTorch(profile.at(spec.outputs[i]).value));
    plan.push_back(*FromTorch(outputs[i]));
    names.push_back(spec.outputs[i]->debugName());
  }
  return CompareOutputs(reference, plan, names, tolerance);
}

// Whether every top-level tensor the graph computes has a recorded shape.
bool ProfileCovers(const torch::jit::Graph& graph, const ShapeProfile& profile) {
  for (const torch::jit::Node* node : graph.nodes()) {
    for (const torch::jit::Value* v : node->outputs()) {
      if (v->type()->kind() == c10::TypeKind::TensorType && profile.count(v) == 0) return false;
    }
  }
  return true;
}

int CountFusions(const plan::Graph& before, const plan::Graph& after) {
  return static_cast<int>(before.nodes.size() - after.nodes.size());
}

}  // namespace

int PlanReport::compiled_segments() const {
  int n = 0;
  for (const SegmentSummary& s : segments) n += !s.precision.empty();
  return n;
}

std::string PlanReport::precision() const {
  bool bf16 = false, fp32 = false;
  for (const SegmentSummary& s : segments) {
    bf16 |= s.precision == "bf16";
    fp32 |= s.precision == "fp32";
  }
  if (bf16 && fp32) return "mixed";
  if (bf16) return "bf16";
  if (fp32) return "fp32";
  return "none";
}

absl::StatusOr<std::unique_ptr<CompiledGraph>> CompiledGraph::Build(
    const std::shared_ptr<torch::jit::Graph>& graph, const std::vector<c10::IValue>& stack,
    const CompileOptions& options, std::vector<c10::IValue>* reference_outputs) {
  const auto start = std::chrono::steady_clock::now();
  std::unique_ptr<CompiledGraph> plan(new CompiledGraph());
  PlanReport& report = plan->report_;
  plan->graph_ = graph->copy();
  std::shared_ptr<torch::jit::Graph>& g = plan->graph_;

  ShapeProfile profile;
  auto outputs = ProfileShapes(g, stack, &profile);
  if (!outputs.ok()) return outputs.status();
  // Specialization replaces size queries and folds what depends on them;
  // tensor-producing nodes keep their values, except those it moves out of
  // folded branches or peeled loops: then the profile is recorded again.
  // Folding one size query can expose the next (a branch on x.dim()
  // guarding another), so a few rounds.
  for (int round = 0; round < 4; ++round) {
    const int specialized = SpecializeShapes(g, profile);
    if (specialized == 0) break;
    report.specialized_sizes += specialized;
    if (!ProfileCovers(*g, profile)) {
      profile.clear();
      outputs = ProfileShapes(g, stack, &profile);
      if (!outputs.ok()) return outputs.status();
      ++report.profiles;
    }
  }
  *reference_outputs = *outputs;
  report.profile_ms = MsSince(start);

  const auto partition_start = std::chrono::steady_clock::now();
  Partition partition = PartitionGraph(*g, profile, !options.segment_everything);
  report.left = partition.left;
  report.partition_ms = MsSince(partition_start);

  const auto compile_start = std::chrono::steady_clock::now();
  std::unordered_map<torch::jit::Value*, torch::jit::Value*> replaced;
  for (SegmentSpec& spec : partition.segments) {
    // Inputs produced by an earlier compiled segment now come from its call.
    std::vector<torch::jit::Value*> original_inputs = spec.inputs;
    for (torch::jit::Value*& v : spec.inputs) {
      auto it = replaced.find(v);
      if (it != replaced.end()) v = it->second;
    }
    SegmentSummary summary;
    const auto segment_start = std::chrono::steady_clock::now();
    summary.torchscript_nodes = static_cast<int>(spec.nodes.size());
    plan::Graph fused = spec.graph;
    plan::RunFusionPasses(fused);
    summary.fusions = CountFusions(spec.graph, fused);
    summary.ir_nodes = static_cast<int>(fused.nodes.size());
    for (const plan::Node& n : fused.nodes) {
      if (!n.post_ops.empty()) summary.fused.push_back(n.origin);
    }
    std::vector<plan::BuildOptions> attempts = {{options.precision, options.winograd}};
    if (options.precision == plan::PlanPrecision::kBf16) {
      attempts.push_back({plan::PlanPrecision::kFp32, options.winograd});
    }
    std::unique_ptr<SegmentRunner> runner;
    for (size_t a = 0; a < attempts.size(); ++a) {
      const plan::BuildOptions build = attempts[a];
      const plan::PlanPrecision precision = build.precision;
      plan::Graph attempt = fused;
      if (options.ir_hook) options.ir_hook(attempt, build);
      auto compiled = plan::CompiledSegment::Build(attempt, build);
      if (!compiled.ok()) {
        summary.left_reason = std::string(compiled.status().message());
        break;  // the same lowering fails at any precision
      }
      auto candidate = std::make_unique<SegmentRunner>(*std::move(compiled));
      const Tolerance& tolerance = precision == plan::PlanPrecision::kBf16
                                       ? options.bf16_tolerance
                                       : options.fp32_tolerance;
      summary.check = CheckSegment(*candidate, spec, original_inputs, profile, tolerance);
      if (summary.check.passed) {
        summary.precision = plan::PlanPrecisionName(precision);
        summary.plan = candidate->segment().report();
        summary.left_reason.clear();
        runner = std::move(candidate);
        break;
      }
      const int winograd = candidate->segment().report().winograd_convolutions;
      summary.retries.push_back(absl::StrCat(plan::PlanPrecisionName(precision),
                                             winograd > 0 ? " (Winograd)" : "",
                                             " failed the accuracy check: ",
                                             summary.check.Summary()));
      if (winograd > 0) {  // the same precision without it next
        attempts.insert(attempts.begin() + a + 1, {precision, plan::WinogradUse::kOff});
      }
      summary.left_reason = "failed the accuracy check at every precision";
    }
    summary.compile_ms = MsSince(segment_start);
    if (runner) {
      std::vector<torch::jit::Value*> now = ReplaceWithSegmentCall(*g, spec, runner.get());
      for (size_t i = 0; i < now.size(); ++i) replaced[spec.outputs[i]] = now[i];
      plan->runners_.push_back(std::move(runner));
    } else {
      for (torch::jit::Node* node : spec.nodes) {
        if (node->kind() == c10::prim::ListConstruct) continue;
        report.left.push_back({node->kind().toQualString(),
                               absl::StrCat("segment not compiled: ", summary.left_reason)});
      }
    }
    report.segments.push_back(std::move(summary));
  }
  report.compile_ms = MsSince(compile_start);
  try {
    plan->code_ = std::make_unique<torch::jit::Code>(g, "kiln_plan");
  } catch (const c10::Error& e) {
    return absl::InternalError(e.what_without_backtrace());
  }
  report.total_ms = MsSince(start);
  return plan;
}

std::vector<c10::IValue> CompiledGraph::Run(std::vector<c10::IValue> stack) const {
  torch::jit::InterpreterState(*code_).run(stack);
  return stack;
}

}  // namespace kiln::engine::segment

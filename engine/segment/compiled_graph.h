// A plan for one input signature: the model's graph with its lowerable runs
// replaced by compiled segments, each checked against the reference on the
// triggering input as it is built (a bf16 segment that fails is rebuilt in
// fp32; an fp32 failure leaves that run to TorchScript).
//
// Thread safety: Run may be called concurrently once built.
#ifndef KILN_ENGINE_SEGMENT_COMPILED_GRAPH_H_
#define KILN_ENGINE_SEGMENT_COMPILED_GRAPH_H_

#include <torch/csrc/jit/ir/ir.h>
#include <torch/csrc/jit/runtime/interpreter.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/accuracy.h"
#include "engine/plan/compiled_segment.h"
#include "engine/segment/partition.h"
#include "engine/segment/segment_call.h"

namespace kiln::engine::segment {

struct SegmentSummary {
  int torchscript_nodes = 0;  // nodes the segment replaced
  int ir_nodes = 0;           // after fusion
  int fusions = 0;
  std::vector<std::string> fused;  // origins of fused nodes ("aten::conv2d %x + aten::relu %y")
  std::string precision;      // "bf16", "fp32", or "" when left to TorchScript
  std::string left_reason;    // why it stayed in TorchScript, when it did
  double compile_ms = 0;
  plan::SegmentReport plan;
  AccuracyReport check;       // segment outputs vs the reference
  std::vector<std::string> retries;  // "bf16 failed: ...; rebuilt in fp32"
};

struct PlanReport {
  int specialized_sizes = 0;
  int profiles = 1;  // reference runs recorded (more when specialization reshaped the graph)
  double profile_ms = 0, partition_ms = 0, compile_ms = 0, total_ms = 0;
  std::vector<SegmentSummary> segments;
  std::vector<LeftNode> left;  // nodes outside every compiled segment
  int compiled_segments() const;
  std::string precision() const;  // "bf16", "fp32", "mixed" or "none"
};

struct CompileOptions {
  plan::PlanPrecision precision = plan::PlanPrecision::kFp32;
  // Where segments use Winograd convolutions (plan::BuildOptions).
  plan::WinogradUse winograd = plan::WinogradUse::kWhenFaster;
  // Tightened or loosened per model; defaults from DefaultTolerance.
  Tolerance fp32_tolerance = DefaultTolerance(Precision::kFp32);
  Tolerance bf16_tolerance = DefaultTolerance(Precision::kBf16);
  // For tests: lets a test corrupt a segment's IR (after fusion, per
  // precision attempt) to exercise the fallback.
  std::function<void(plan::Graph&, const plan::BuildOptions&)> ir_hook;
  // For tests of single ops: compile runs without a compute-heavy node too.
  bool segment_everything = false;
};

class CompiledGraph {
 public:
  // Copies `graph`, runs the reference on `stack` (the full input list) to
  // record shapes and values, and compiles. `reference_outputs` receives the
  // reference result for `stack`. Errors: Internal when the reference run
  // fails (the request itself is then bad or the model broken).
  static absl::StatusOr<std::unique_ptr<CompiledGraph>> Build(
      const std::shared_ptr<torch::jit::Graph>& graph, const std::vector<c10::IValue>& stack,
      const CompileOptions& options, std::vector<c10::IValue>* reference_outputs);

  // Runs the plan; returns the graph's outputs. Throws as TorchScript does.
  std::vector<c10::IValue> Run(std::vector<c10::IValue> stack) const;

  const PlanReport& report() const { return report_; }
  const torch::jit::Graph& graph() const { return *graph_; }

 private:
  CompiledGraph() = default;
  std::shared_ptr<torch::jit::Graph> graph_;
  std::vector<std::unique_ptr<SegmentRunner>> runners_;
  std::unique_ptr<torch::jit::Code> code_;
  PlanReport report_;
};

}  // namespace kiln::engine::segment

#endif  // KILN_ENGINE_SEGMENT_COMPILED_GRAPH_H_

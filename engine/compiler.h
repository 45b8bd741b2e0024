// The engine rebuilder: builds the plan for one input signature and decides
// its precision. Internal to the engine (LibTorch types).
//
// Policy (DESIGN.md, engine points 6-7): try the lowest precision allowed
// (bf16 only where the CPU runs it natively), check the whole plan's outputs
// against the reference on the triggering input, and on failure rebuild at
// fp32; when fp32 fails too, the signature runs the reference path. Each
// segment is also checked as it is built (compiled_graph.h), so one bad
// segment falls back alone.
#ifndef KILN_ENGINE_COMPILER_H_
#define KILN_ENGINE_COMPILER_H_

#include <torch/csrc/jit/ir/ir.h>

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/accuracy.h"
#include "engine/model.h"
#include "engine/plan_cache.h"
#include "engine/segment/compiled_graph.h"

namespace kiln::engine {

struct CompilerOptions {
  PrecisionPolicy precision = PrecisionPolicy::kAuto;
  bool accuracy_check = true;  // false: trust plans without the final check
  // Keep a plan only when it is faster than TorchScript on its shape.
  bool speed_check = true;
  // Where 3x3 convolutions take Winograd (plan::BuildOptions); kOff is for
  // comparisons (kiln-compile --winograd off).
  plan::WinogradUse winograd = plan::WinogradUse::kWhenFaster;
  // For tests: corrupts each segment's IR before it is compiled.
  std::function<void(plan::Graph&, const plan::BuildOptions&)> ir_hook;
};

// One signature's plan. `graph` is null when the signature runs the
// reference path (nothing compiled, or every attempt failed the check).
struct KeyPlan : CachedPlan {
  std::unique_ptr<segment::CompiledGraph> graph;
  std::string precision = "none";      // of the plan kept
  AccuracyReport final_check;           // of the plan kept (or the last tried)
  std::vector<std::string> attempts;    // one line per attempt, for logs
  // One entry per whole-plan accuracy check run, in order (none with the
  // check off): the precision the attempt was built in and whether it passed.
  struct Check {
    plan::PlanPrecision precision;
    bool passed;
  };
  std::vector<Check> checks;
  double build_ms = 0;
  // The kept plan's first run (the accuracy check's), with the model's
  // threads; 0 when the check was off.
  double first_run_ms = 0;
  // Intra-op threads the plan runs with; 0: the model's. A plan that takes
  // a few microseconds runs on one thread: waking a second OpenMP thread for
  // it costs more than it saves (set by the model after the build).
  int run_threads = 0;
  std::vector<c10::IValue> reference_outputs;  // on the triggering input
  // Set when the plan failed at run time on a later request (a shape the
  // build could not foresee): the signature runs the reference from then on.
  mutable std::atomic<bool> failed_at_run_time{false};
};

// The precisions to try, in order, for a policy on this CPU.
std::vector<plan::PlanPrecision> PrecisionAttempts(PrecisionPolicy policy);

// Builds the plan for `stack` (the graph's full input list) on `graph` (the
// optimized forward graph). Errors: Internal when the reference itself fails
// on this input (a bad request); plans that fail to build or check are not
// errors - they fall back.
absl::StatusOr<std::shared_ptr<KeyPlan>> BuildKeyPlan(
    const std::shared_ptr<torch::jit::Graph>& graph, const std::vector<c10::IValue>& stack,
    const CompilerOptions& options);

// Outputs of a graph run, flattened to tensors for comparison.
std::vector<at::Tensor> FlattenTensors(const std::vector<c10::IValue>& values);

}  // namespace kiln::engine

#endif  // KILN_ENGINE_COMPILER_H_

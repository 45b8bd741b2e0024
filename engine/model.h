// The engine's interface to the server: load a TorchScript model with
// options, run it on tensors, report what happened.
//
// This header has no LibTorch, gRPC or protobuf dependency. Errors:
//   InvalidArgument  - the model file is not TorchScript, or the input names /
//                      tensors do not match forward()'s signature;
//   NotFound         - the model file does not exist;
//   Internal         - TorchScript raised while running the model (the message
//                      is TorchScript's own).
// Thread safety: Run may be called from many threads at once.
#ifndef KILN_ENGINE_MODEL_H_
#define KILN_ENGINE_MODEL_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/tensor.h"

namespace kiln::engine {

// Which precisions plans may use (levels 2 and 3). Whatever the choice, a
// plan is kept only when it passes the accuracy check; bf16 falls back to
// fp32, fp32 to the reference path.
enum class PrecisionPolicy { kAuto, kFp32, kBf16 };

struct ModelOptions {
  // 0: run the module as loaded. 1: freeze it (falls back to the unfrozen
  // module, with the reason in load_report(), when freezing fails).
  // 2: + graph passes and compiled segments per input signature, fp32.
  // 3: + automatic precision (bf16 where the CPU has it natively).
  int optimization_level = 1;
  // Levels 2-3. At level 2 kAuto means fp32.
  PrecisionPolicy precision = PrecisionPolicy::kAuto;
  // Compare every new plan with the reference on its triggering request.
  bool accuracy_check = true;
  // Plans kept per model (LRU), >= 1.
  int plan_cache_size = 16;
  // Levels 2-3: increasing batch sizes; a request whose inputs share a
  // leading (batch) dim smaller than a bucket is zero-padded up to it and
  // its outputs cut back, so one plan serves several batch sizes. Empty: off.
  std::vector<int64_t> batch_buckets;
  // Levels 2-3: build a new signature's plan on a background thread and
  // answer its requests with the reference until the plan is ready, instead
  // of holding the first request for the whole compile. Off: the first
  // request waits for the build (and gets the reference's answer from it).
  bool async_compile = false;
  // Intra-op threads used by each Run; 0 means one per core.
  int intra_op_threads = 0;
  // LibTorch's inter-op pool, process-wide (interop_threads.h); 0 leaves
  // LibTorch's default.
  int inter_op_threads = 0;
  // The names the server will pass inputs under, in the order Run receives
  // them. Each is a forward() argument name, or "<anything>__<index>" with the
  // argument's position, or - when forward() takes one Dict[str, Tensor] - a
  // key of that dict. Empty: inputs are passed positionally.
  std::vector<std::string> input_names;
  // Label for log lines ("resnet18 v1").
  std::string label;
  // Receives one line per plan built (signature, precision, accuracy,
  // timings); may be empty.
  std::function<void(const std::string&)> log;
  // Called once per plan built (kept or not) with how long the build took,
  // on the thread that built it; may be empty. For compile-time histograms
  // (run_stats() has the count and the total).
  std::function<void(double build_seconds)> on_plan_built;
};

// One forward() argument (self excluded).
struct Argument {
  std::string name;
  std::string type;  // TorchScript's spelling: "Tensor", "Dict(str, Tensor)"
};

struct Outputs {
  // The returned tensors: one for a Tensor, the elements of a tuple or list
  // in order, or the values of a dict (in the dict's order).
  std::vector<Tensor> tensors;
  // For a dict return: the key of each tensor; empty otherwise.
  std::vector<std::string> keys;
};

// Counts since load; what the server's statistics and metrics build on.
struct RunStats {
  uint64_t runs = 0;      // Run calls that returned outputs
  uint64_t failures = 0;  // Run calls that returned an error
  uint64_t run_ns = 0;    // time spent in successful runs
  // The acceleration engine (levels 2-3).
  uint64_t plans_built = 0;          // signatures compiled (kept or not)
  uint64_t plan_build_ns = 0;        // time spent building them
  uint64_t plan_cache_hits = 0;
  uint64_t plan_cache_misses = 0;
  uint64_t plan_cache_evictions = 0;
  uint64_t plan_cache_size = 0;
  uint64_t accuracy_checks_passed = 0;  // plan attempts kept
  uint64_t accuracy_checks_failed = 0;  // plan attempts rejected (rebuilt or fell back)
  // Whole-plan accuracy checks run (reference vs plan on the triggering
  // input), by the precision the plan was built in and the outcome. A bf16
  // failure followed by an fp32 pass counts one of each.
  uint64_t accuracy_checks_bf16_passed = 0;
  uint64_t accuracy_checks_bf16_failed = 0;
  uint64_t accuracy_checks_fp32_passed = 0;
  uint64_t accuracy_checks_fp32_failed = 0;
  uint64_t bf16_plans = 0;           // kept plans by precision
  uint64_t fp32_plans = 0;
  uint64_t reference_fallbacks = 0;  // signatures that run the reference path
  double worst_max_abs_error = 0;    // over kept plans, relative to max |ref|
  double worst_cosine = 1;           // lowest cosine over kept plans
  uint64_t nodes_left_to_torchscript = 0;  // in the latest plan built
};

struct LoadReport {
  bool frozen = false;
  std::string freeze_error;  // why freezing failed, when it did
  std::string pass_error;    // a graph pass that failed (the graph is kept as it was)
  std::vector<std::string> passes;  // "name: changed, 0.4 ms" per pass run
  std::string threads;              // intra-op threads per run and the inter-op pool
  double load_seconds = 0;
};

class Model {
 public:
  virtual ~Model() = default;

  static absl::StatusOr<std::unique_ptr<Model>> Load(
      const std::string& path, const ModelOptions& options);

  virtual const std::vector<Argument>& arguments() const = 0;
  virtual const LoadReport& load_report() const = 0;
  virtual RunStats run_stats() const = 0;

  // Runs forward() on `inputs`, given in the order of options.input_names (or
  // positionally). Tensors must be CPU-resident row-major bytes; the engine
  // may read them in place. Returned tensors own their bytes.
  virtual absl::StatusOr<Outputs> Run(const std::vector<Tensor>& inputs) = 0;
};

}  // namespace kiln::engine

#endif  // KILN_ENGINE_MODEL_H_

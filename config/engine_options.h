// Engine options of one model: optimization level, precision, accuracy check,
// plan-cache size and thread counts (DESIGN.md, "The engine", points 7-8).
//
// Sources, in order of strength:
//   1. the model config's `parameters` (map<string, ModelParameter>), so one
//      model can be tuned without touching the others;
//   2. the process environment (KILN_* variables), for a deployment-wide
//      setting;
//   3. the defaults below.
// Triton's PyTorch-backend parameter names are accepted too, so a Triton
// config.pbtxt loads unchanged and keeps its meaning where Kiln has one.
#ifndef KILN_CONFIG_ENGINE_OPTIONS_H_
#define KILN_CONFIG_ENGINE_OPTIONS_H_

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>
#include <string_view>

#include "absl/status/statusor.h"
#include "proto/model_config.pb.h"

namespace kiln::config {

// Numeric precision of compiled segments. kAuto tries the lower precision
// (bf16 where the CPU has it) and keeps it only if the accuracy checker passes.
enum class Precision { kAuto, kFp32, kBf16 };

struct EngineOptions {
  // KILN_OPT_LEVEL 0..3: 0 plain TorchScript; 1 freeze + LibTorch passes;
  // 2 + Kiln segments in fp32; 3 + auto precision.
  int optimization_level = 3;
  // KILN_PRECISION auto|fp32|bf16. Only matters from level 2 on; a lower level
  // with bf16 is accepted (the precision is then simply unused).
  Precision precision = Precision::kAuto;
  // KILN_ACCURACY_CHECK true|false|1|0: compare each new plan to the reference.
  bool accuracy_check = true;
  // KILN_ASYNC_COMPILE true|false|1|0: build a new input shape's plan in
  // the background, answering its requests with the reference meanwhile.
  bool async_compile = false;
  // KILN_PLAN_CACHE_SIZE >= 1: plans kept per model (LRU).
  int plan_cache_size = 16;
  // KILN_BATCH_BUCKETS "1,2,4,8": pad the batch dim of a request up to the
  // next bucket so one plan serves several batch sizes. Empty: off.
  std::vector<int64_t> batch_buckets;
  // KILN_INTRA_OP_THREADS / Triton's INTRA_OP_THREAD_COUNT, >= 0;
  // 0 = cores / instances.
  int intra_op_threads = 0;
  // KILN_INTER_OP_THREADS / Triton's INTER_OP_THREAD_COUNT, >= 0;
  // 0 = LibTorch's default.
  int inter_op_threads = 0;
  // Where each value came from, for the load log: field name ("opt_level",
  // "precision", "accuracy_check", "plan_cache_size", "batch_buckets", "intra_op_threads",
  // "inter_op_threads", "async_compile") -> "parameter", "environment" or "default".
  // ResolveEngineOptions fills every field name.
  std::map<std::string, std::string> sources;
};

// The `sources` value of a field nobody set.
inline constexpr char kFromDefault[] = "default";

// Resolves the engine options of one model from `config.parameters()`, then
// `getenv` (consulted only for the KILN_* names; passed in so tests do not
// touch the real environment), then the defaults.
//
// Config parameter keys:
//   KILN_OPT_LEVEL, KILN_PRECISION, KILN_ACCURACY_CHECK, KILN_ASYNC_COMPILE, KILN_PLAN_CACHE_SIZE,
//   KILN_INTRA_OP_THREADS, KILN_INTER_OP_THREADS;
//   Triton's INTRA_OP_THREAD_COUNT and INTER_OP_THREAD_COUNT (same meaning;
//   when both spellings are in the config, the KILN_ one wins);
//   Triton's DISABLE_OPTIMIZED_EXECUTION: "true" means optimization level 0
//   unless the config gives KILN_OPT_LEVEL (it is a config parameter, so it
//   beats a KILN_OPT_LEVEL environment variable); "false" changes nothing.
// Any other key not starting with KILN_ (INFERENCE_MODE, ENABLE_JIT_EXECUTOR,
// ENABLE_JIT_PROFILING, ... or keys for other components) is ignored.
// The environment knows only the KILN_ names; an empty variable is unset.
//
// Values: surrounding whitespace is trimmed; enums and booleans are
// case-insensitive; booleans are true, false, 1 or 0. Every value present is
// checked, including one a stronger source overrides: a bad setting should
// surface where it is, not the day the override goes away.
//
// Errors: InvalidArgument
//   * for a config key starting with KILN_ that Kiln does not know (a typo
//     must not pass silently), e.g.
//       model 'resnet50': unknown config parameter KILN_PRECISON; known: ...
//   * for a malformed value, naming the model, the source, the key, the
//     accepted values and what came, e.g.
//       model 'resnet50': config parameter KILN_PRECISION must be one of
//       auto, fp32, bf16; got 'fp16'
//       model 'resnet50': environment variable KILN_OPT_LEVEL must be an
//       integer in 0..3; got '4'
// The model is named by config.name().
absl::StatusOr<EngineOptions> ResolveEngineOptions(
    const inference::ModelConfig& config,
    const std::function<std::optional<std::string>(const std::string&)>&
        getenv);

// The same, reading the real process environment (std::getenv).
absl::StatusOr<EngineOptions> ResolveEngineOptions(
    const inference::ModelConfig& config);

// One line for the load log, every option with its source:
//   "opt_level=3 (default) precision=auto (environment) accuracy_check=true
//    (default) plan_cache_size=16 (default) intra_op_threads=0 (default)
//    inter_op_threads=0 (default)"
// A field missing from `sources` is shown as "(default)".
std::string DescribeEngineOptions(const EngineOptions& options);

// "auto", "fp32", "bf16".
std::string_view PrecisionName(Precision p);

}  // namespace kiln::config

#endif  // KILN_CONFIG_ENGINE_OPTIONS_H_

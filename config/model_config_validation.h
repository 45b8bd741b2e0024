// Validation of a parsed config.pbtxt: the rules Kiln's server and engine rely
// on (names, platform, types LibTorch can hold, shapes, batching, instances,
// version policy, warmup samples). Included by model_config_loader.h;
// LoadModelConfig runs it between parsing and normalization. Pure and
// thread-safe.
#ifndef KILN_CONFIG_MODEL_CONFIG_VALIDATION_H_
#define KILN_CONFIG_MODEL_CONFIG_VALIDATION_H_

#include <string_view>

#include "absl/status/status.h"
#include "proto/model_config.pb.h"

namespace kiln::config {

// The platform and backend names Triton uses for TorchScript models; Kiln
// accepts either and reports both.
inline constexpr char kPytorchPlatform[] = "pytorch_libtorch";
inline constexpr char kPytorchBackend[] = "pytorch";

// Checks a parsed (not yet normalized) configuration. Returns the first
// problem found as InvalidArgument "<source_path>: <field>: <problem>", e.g.
//   models/m/config.pbtxt: input 'x': dims must be positive or -1, got [3,0]
// Rules: a set `name` equals the model's directory name; platform is
// "pytorch_libtorch" and/or backend is "pytorch" (one is required);
// max_batch_size >= 0; at least one input and one output, names set and unique
// per kind; data_type set and one LibTorch can hold (not UINT16/32/64 or
// STRING); each dim > 0 or -1 (empty dims are fine); instance_group
// count >= 0; version_policy latest.num_versions >= 1 and specific
// versions >= 1.
// dynamic_batching (Triton's ValidateModelConfig rules, plus the first):
//   * only with max_batch_size > 0;
//   * each preferred_batch_size in 1..max_batch_size (duplicates allowed);
//   * with priority_levels > 0: default_priority_level and every
//     priority_queue_policy key in 1..priority_levels (with priority_levels 0
//     both are ignored, as in Triton, and not checked);
//   * with preserve_ordering: priority_levels <= 1, and no queue policy
//     (default or per level) with timeout_action DELAY and a nonzero
//     default_timeout_microseconds.
// model_warmup, for each sample (named "model_warmup '<name>'", or
// "model_warmup[<index>]" when unnamed, in messages):
//   * batch_size <= max_batch_size, or <= 1 when max_batch_size is 0;
//     batch_size 0 is valid and means the sample is skipped, as in Triton;
//     `name` may be empty and `count` is unchecked (0 means run once);
//   * `inputs` names exactly the model's inputs: no unknown name, none missing;
//   * each input's data_type equals the model input's data_type;
//   * each input's dims are concrete (>= 1; Triton would also take 0) and
//     match the model input's dims (without the batch dimension) where those
//     are not -1;
//   * one of zero_data / random_data / input_data_file is set, and
//     input_data_file is a non-empty relative path without ".." (it is read
//     from <model dir>/warmup/; its size is checked when the sample is built,
//     not here).
// The directory name is `model_name` when given, otherwise the name of the
// directory holding `source_path` (no name check when source_path has no
// directory part). Normalized configs validate as well.
absl::Status ValidateModelConfig(const inference::ModelConfig& config,
                                 std::string_view source_path,
                                 std::string_view model_name = {});

}  // namespace kiln::config

#endif  // KILN_CONFIG_MODEL_CONFIG_VALIDATION_H_

// Validation of a parsed config.pbtxt: the rules Kiln's server and engine rely
// on (names, platform, types LibTorch can hold, shapes, batching, instances,
// version policy). Included by model_config_loader.h; LoadModelConfig runs it
// between parsing and normalization. Pure and thread-safe.
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
// STRING); each dim > 0 or -1 (empty dims are fine); dynamic_batching only
// with max_batch_size > 0 and preferred sizes in 1..max_batch_size;
// instance_group count >= 0; version_policy latest.num_versions >= 1 and
// specific versions >= 1.
// The directory name is `model_name` when given, otherwise the name of the
// directory holding `source_path` (no name check when source_path has no
// directory part). Normalized configs validate as well.
absl::Status ValidateModelConfig(const inference::ModelConfig& config,
                                 std::string_view source_path,
                                 std::string_view model_name = {});

}  // namespace kiln::config

#endif  // KILN_CONFIG_MODEL_CONFIG_VALIDATION_H_

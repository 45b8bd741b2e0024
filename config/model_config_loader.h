// config.pbtxt -> inference::ModelConfig: parsing, validation and
// normalization of one model's configuration.
//
// The text is Triton's model configuration (protobuf TextFormat of
// inference.ModelConfig), so a Triton config for a PyTorch model loads
// unchanged. Kiln is deliberately lenient about what it does not use and
// strict about what it does:
//   * fields unknown to Kiln's schema, and known fields Kiln does not act on,
//     are warnings (LoadedModelConfig::warnings), never errors;
//   * everything the server and engine rely on (names, types, shapes, batching,
//     versions, instances) is validated, and each error names the file, the
//     field and the problem.
//
// All functions are pure (LoadModelConfig also reads one file) and thread-safe.
#ifndef KILN_CONFIG_MODEL_CONFIG_LOADER_H_
#define KILN_CONFIG_MODEL_CONFIG_LOADER_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "config/model_config_validation.h"
#include "google/protobuf/repeated_field.h"
#include "proto/model_config.pb.h"

namespace kiln::config {

// A parsed configuration and the human-readable warnings produced on the way
// (unknown fields, fields Kiln ignores). Callers log the warnings; they do not
// make the model unavailable.
struct LoadedModelConfig {
  inference::ModelConfig config;
  std::vector<std::string> warnings;
};

// Parses config.pbtxt text. `source_path` is only used in messages;
// `model_name` (the model's directory name) only in warning text.
// Does not validate or normalize.
// Errors: InvalidArgument "<source_path>:<line>:<column>: <parser message>"
// for a syntax error, a wrongly typed value or an unknown enum value.
absl::StatusOr<LoadedModelConfig> ParseModelConfig(std::string_view text,
                                                   std::string_view source_path,
                                                   std::string_view model_name);

// Reads <model_dir>/config.pbtxt, then Parse, Validate, Normalize.
// Errors: NotFound "model '<m>': no config.pbtxt in <model_dir>";
// InvalidArgument from parsing or validation; Internal if the file exists but
// cannot be read.
absl::StatusOr<LoadedModelConfig> LoadModelConfig(const std::string& model_dir,
                                                  std::string_view model_name);

// ValidateModelConfig (the rules LoadModelConfig applies between parsing and
// normalization) is declared in model_config_validation.h, included here.

// Fills the defaults the rest of Kiln relies on, the way Triton does:
//   name <- model_name when empty;
//   platform "pytorch_libtorch" and backend "pytorch" when either is set;
//   version_policy <- latest { num_versions: 1 } when unset;
//   instance_group <- [{ name "<model>_0", KIND_CPU, count 1 }] when empty;
//   in existing groups: count 0 -> 1, empty name -> "<model>_<index>",
//   KIND_AUTO -> KIND_CPU.
// An empty dynamic_batching.preferred_batch_size is left empty: the scheduler
// reads it as [max_batch_size]. Idempotent.
void NormalizeModelConfig(std::string_view model_name,
                          inference::ModelConfig* config);

// The full tensor shape clients see: [-1] + dims when the model batches
// (max_batch_size > 0), else dims.
std::vector<int64_t> FullShape(
    const inference::ModelConfig& config,
    const google::protobuf::RepeatedField<int64_t>& dims);

}  // namespace kiln::config

#endif  // KILN_CONFIG_MODEL_CONFIG_LOADER_H_

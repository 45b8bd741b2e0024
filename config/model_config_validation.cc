#include "config/model_config_validation.h"

#include <cstdint>
#include <filesystem>
#include <string>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/string_view.h"

namespace kiln::config {
namespace {

using inference::DataType;
using inference::ModelConfig;
using inference::ModelInstanceGroup;

constexpr absl::string_view kPlatform = kPytorchPlatform;
constexpr absl::string_view kBackend = kPytorchBackend;

// The public API takes std::string_view; this absl (20220623, as built by
// Debian) has its own absl::string_view, which StrCat and friends take.
absl::string_view ToAbsl(std::string_view s) { return {s.data(), s.size()}; }

std::string FormatDims(const google::protobuf::RepeatedField<int64_t>& dims) {
  return absl::StrCat("[", absl::StrJoin(dims, ","), "]");
}

// Checks what input and output tensors have in common. `what` is e.g.
// "input 'x'".
absl::Status ValidateTensor(
    absl::string_view source_path, absl::string_view what, DataType data_type,
    const google::protobuf::RepeatedField<int64_t>& dims) {
  if (data_type == inference::TYPE_INVALID) {
    return absl::InvalidArgumentError(
        absl::StrCat(source_path, ": ", what, ": data_type must be set"));
  }
  // LibTorch has no unsigned types wider than 8 bits, and TorchScript tensors
  // cannot hold strings, so such a tensor could never reach the model.
  switch (data_type) {
    case inference::TYPE_UINT16:
    case inference::TYPE_UINT32:
    case inference::TYPE_UINT64:
    case inference::TYPE_STRING:
      return absl::InvalidArgumentError(
          absl::StrCat(source_path, ": ", what, ": data_type ",
                       inference::DataType_Name(data_type),
                       " is not supported by TorchScript models"));
    default:
      break;
  }
  // Empty dims are allowed: a scalar per batch item (or a scalar model).
  for (int64_t dim : dims) {
    if (dim <= 0 && dim != -1) {
      return absl::InvalidArgumentError(absl::StrCat(
          source_path, ": ", what, ": dims must be positive or -1, got ",
          FormatDims(dims)));
    }
  }
  return absl::OkStatus();
}

absl::Status ValidatePlatform(const ModelConfig& config,
                              absl::string_view source_path) {
  const std::string& platform = config.platform();
  const std::string& backend = config.backend();
  if (platform.empty() && backend.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(source_path, ": platform: one of platform: \"", kPlatform,
                     "\" or backend: \"", kBackend, "\" is required"));
  }
  if (!platform.empty() && platform != kPlatform) {
    return absl::InvalidArgumentError(
        absl::StrCat(source_path, ": platform: Kiln serves only \"", kPlatform,
                     "\", got \"", platform, "\""));
  }
  if (!backend.empty() && backend != kBackend) {
    return absl::InvalidArgumentError(
        absl::StrCat(source_path, ": backend: Kiln serves only \"", kBackend,
                     "\", got \"", backend, "\""));
  }
  return absl::OkStatus();
}

absl::Status ValidateVersionPolicy(const ModelConfig& config,
                                   absl::string_view source_path) {
  const inference::ModelVersionPolicy& policy = config.version_policy();
  if (policy.has_latest() && policy.latest().num_versions() < 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        source_path, ": version_policy.latest: num_versions must be >= 1, got ",
        policy.latest().num_versions()));
  }
  if (policy.has_specific()) {
    for (int64_t version : policy.specific().versions()) {
      if (version < 1) {
        return absl::InvalidArgumentError(absl::StrCat(
            source_path,
            ": version_policy.specific: versions must be >= 1, got ", version));
      }
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateBatching(const ModelConfig& config,
                              absl::string_view source_path) {
  if (config.max_batch_size() < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(source_path, ": max_batch_size: must be >= 0, got ",
                     config.max_batch_size()));
  }
  if (!config.has_dynamic_batching()) return absl::OkStatus();
  if (config.max_batch_size() == 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        source_path,
        ": dynamic_batching: requires max_batch_size > 0 (the model must "
        "batch)"));
  }
  for (int32_t size : config.dynamic_batching().preferred_batch_size()) {
    if (size < 1 || size > config.max_batch_size()) {
      return absl::InvalidArgumentError(absl::StrCat(
          source_path, ": dynamic_batching.preferred_batch_size: values must ",
          "be in 1..", config.max_batch_size(), " (max_batch_size), got ",
          size));
    }
  }
  return absl::OkStatus();
}

template <typename Tensors>
absl::Status ValidateTensors(const Tensors& tensors, absl::string_view kind,
                             absl::string_view source_path) {
  if (tensors.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        source_path, ": ", kind, ": at least one ", kind, " is required"));
  }
  absl::flat_hash_set<std::string> names;
  for (const auto& tensor : tensors) {
    const std::string what = absl::StrCat(kind, " '", tensor.name(), "'");
    if (tensor.name().empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat(source_path, ": ", kind, ": name must be set"));
    }
    if (!names.insert(tensor.name()).second) {
      return absl::InvalidArgumentError(
          absl::StrCat(source_path, ": ", what, ": duplicate ", kind, " name"));
    }
    absl::Status status =
        ValidateTensor(source_path, what, tensor.data_type(), tensor.dims());
    if (!status.ok()) return status;
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status ValidateModelConfig(const ModelConfig& config,
                                 std::string_view source_path_view,
                                 std::string_view model_name) {
  const absl::string_view source_path = ToAbsl(source_path_view);
  std::string expected_name(model_name);
  if (expected_name.empty()) {
    expected_name = std::filesystem::path(source_path_view)
                        .parent_path()
                        .filename()
                        .string();
  }
  if (!config.name().empty() && !expected_name.empty() &&
      config.name() != expected_name) {
    return absl::InvalidArgumentError(
        absl::StrCat(source_path, ": name: must match the model directory '",
                     expected_name, "', got '", config.name(), "'"));
  }
  absl::Status status = ValidatePlatform(config, source_path);
  if (!status.ok()) return status;
  status = ValidateBatching(config, source_path);
  if (!status.ok()) return status;
  status = ValidateTensors(config.input(), "input", source_path);
  if (!status.ok()) return status;
  status = ValidateTensors(config.output(), "output", source_path);
  if (!status.ok()) return status;
  for (int i = 0; i < config.instance_group_size(); ++i) {
    const ModelInstanceGroup& group = config.instance_group(i);
    if (group.count() < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat(source_path, ": instance_group[", i,
                       "]: count must be >= 0, got ", group.count()));
    }
  }
  return ValidateVersionPolicy(config, source_path);
}

}  // namespace kiln::config

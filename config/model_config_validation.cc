#include "config/model_config_validation.h"

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

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
  const inference::ModelDynamicBatching& batching = config.dynamic_batching();
  // Duplicates are accepted, as in Triton: they change nothing.
  for (int32_t size : batching.preferred_batch_size()) {
    if (size < 1 || size > config.max_batch_size()) {
      return absl::InvalidArgumentError(absl::StrCat(
          source_path, ": dynamic_batching.preferred_batch_size: values must ",
          "be in 1..", config.max_batch_size(), " (max_batch_size), got ",
          size));
    }
  }

  // Map order is unspecified; sorting makes the reported level the smallest
  // offender, the same on every load.
  std::vector<uint64_t> policy_levels;
  policy_levels.reserve(batching.priority_queue_policy_size());
  for (const auto& [level, policy] : batching.priority_queue_policy()) {
    policy_levels.push_back(level);
  }
  std::sort(policy_levels.begin(), policy_levels.end());

  // Without priority_levels Triton ignores default_priority_level and
  // priority_queue_policy, so they are not errors here either.
  const uint64_t levels = batching.priority_levels();
  if (levels > 0) {
    const uint64_t default_level = batching.default_priority_level();
    if (default_level < 1 || default_level > levels) {
      return absl::InvalidArgumentError(absl::StrCat(
          source_path, ": dynamic_batching.default_priority_level: must be in ",
          "1..", levels, " (priority_levels), got ", default_level));
    }
    for (uint64_t level : policy_levels) {
      if (level < 1 || level > levels) {
        return absl::InvalidArgumentError(absl::StrCat(
            source_path, ": dynamic_batching.priority_queue_policy: priority ",
            "level must be in 1..", levels, " (priority_levels), got ", level));
      }
    }
  }

  // In-order responses cannot coexist with requests that overtake others
  // (higher priority) or fall behind them (a DELAY timeout).
  if (batching.preserve_ordering()) {
    if (levels > 1) {
      return absl::InvalidArgumentError(absl::StrCat(
          source_path, ": dynamic_batching.priority_levels: must be <= 1 ",
          "when preserve_ordering is true, got ", levels));
    }
    auto delays = [](const inference::ModelQueuePolicy& policy) {
      return policy.default_timeout_microseconds() != 0 &&
             policy.timeout_action() == inference::ModelQueuePolicy::DELAY;
    };
    constexpr absl::string_view kDelayProblem =
        ": timeout_action DELAY with a default_timeout_microseconds is not "
        "allowed when preserve_ordering is true";
    if (delays(batching.default_queue_policy())) {
      return absl::InvalidArgumentError(
          absl::StrCat(source_path, ": dynamic_batching.default_queue_policy",
                       kDelayProblem));
    }
    for (uint64_t level : policy_levels) {
      if (delays(batching.priority_queue_policy().at(level))) {
        return absl::InvalidArgumentError(absl::StrCat(
            source_path, ": dynamic_batching.priority_queue_policy[", level,
            "]", kDelayProblem));
      }
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

// How messages name a warmup sample: by name, or by position when it has none
// (Triton does not require a name; it only appears in logs).
std::string WarmupWhere(const inference::ModelWarmup& warmup, int index) {
  if (warmup.name().empty()) return absl::StrCat("model_warmup[", index, "]");
  return absl::StrCat("model_warmup '", warmup.name(), "'");
}

// The file is read from <model dir>/warmup/; anything that could leave that
// directory would let a config read arbitrary files into a model.
bool StaysInWarmupDirectory(const std::string& file) {
  const std::filesystem::path path(file);
  if (path.empty() || path.has_root_path()) return false;
  for (const std::filesystem::path& part : path) {
    if (part == "..") return false;
  }
  return true;
}

// Warmup data becomes a request, so it must pass what a request must pass:
// the input's data type, and its dims with every -1 made concrete (Triton:
// "warmup setting expects all variable-size dimensions are specified").
// Zero-sized dims, which Triton lets through, are refused: warming up an
// empty tensor compiles a plan no real request needs (and the server's
// warmup builder refuses them too).
absl::Status ValidateWarmupInput(absl::string_view source_path,
                                 absl::string_view where,
                                 const inference::ModelInput& input,
                                 const inference::ModelWarmup::Input& data) {
  if (data.data_type() != input.data_type()) {
    return absl::InvalidArgumentError(
        absl::StrCat(source_path, ": ", where, ": data_type must be ",
                     inference::DataType_Name(input.data_type()),
                     " (the input's data_type), got ",
                     inference::DataType_Name(data.data_type())));
  }
  for (int64_t dim : data.dims()) {
    if (dim < 1) {
      return absl::InvalidArgumentError(
          absl::StrCat(source_path, ": ", where,
                       ": dims must be concrete (every dim >= 1, no -1), got ",
                       FormatDims(data.dims())));
    }
  }
  bool dims_match = data.dims_size() == input.dims_size();
  for (int i = 0; dims_match && i < data.dims_size(); ++i) {
    dims_match = input.dims(i) == -1 || input.dims(i) == data.dims(i);
  }
  if (!dims_match) {
    return absl::InvalidArgumentError(absl::StrCat(
        source_path, ": ", where, ": dims must match the input's dims ",
        FormatDims(input.dims()), " (without the batch dimension), got ",
        FormatDims(data.dims())));
  }
  switch (data.input_data_type_case()) {
    case inference::ModelWarmup::Input::INPUT_DATA_TYPE_NOT_SET:
      return absl::InvalidArgumentError(absl::StrCat(
          source_path, ": ", where,
          ": one of zero_data, random_data or input_data_file must be set"));
    case inference::ModelWarmup::Input::kInputDataFile:
      if (!StaysInWarmupDirectory(data.input_data_file())) {
        return absl::InvalidArgumentError(absl::StrCat(
            source_path, ": ", where,
            ": input_data_file must be a relative path inside the model's "
            "warmup/ directory (not absolute, no '..'), got '",
            data.input_data_file(), "'"));
      }
      break;
    default:
      break;
  }
  return absl::OkStatus();
}

absl::Status ValidateWarmup(const ModelConfig& config,
                            absl::string_view source_path) {
  for (int i = 0; i < config.model_warmup_size(); ++i) {
    const inference::ModelWarmup& warmup = config.model_warmup(i);
    const std::string where = WarmupWhere(warmup, i);
    // batch_size 0 (also what an omitted batch_size reads as) is accepted:
    // Triton skips such a sample, and so does the server, with a warning.
    // Each sample runs as one batch, so it must fit the model: a model that
    // does not batch takes one item.
    if (config.max_batch_size() == 0 && warmup.batch_size() > 1) {
      return absl::InvalidArgumentError(
          absl::StrCat(source_path, ": ", where,
                       ": batch_size must be 1 for a model that does not batch "
                       "(max_batch_size 0), got ",
                       warmup.batch_size()));
    }
    if (config.max_batch_size() > 0 &&
        warmup.batch_size() > static_cast<uint32_t>(config.max_batch_size())) {
      return absl::InvalidArgumentError(
          absl::StrCat(source_path, ": ", where,
                       ": batch_size must be <= ", config.max_batch_size(),
                       " (max_batch_size), got ", warmup.batch_size()));
    }

    // Sorted so that the first problem reported does not depend on map order.
    std::vector<std::string> names;
    names.reserve(warmup.inputs_size());
    for (const auto& [name, data] : warmup.inputs()) names.push_back(name);
    std::sort(names.begin(), names.end());
    for (const std::string& name : names) {
      const std::string input_where =
          absl::StrCat(where, ": input '", name, "'");
      const inference::ModelInput* input = nullptr;
      for (const inference::ModelInput& candidate : config.input()) {
        if (candidate.name() == name) input = &candidate;
      }
      if (input == nullptr) {
        std::vector<std::string> known;
        for (const inference::ModelInput& in : config.input()) {
          known.push_back(in.name());
        }
        return absl::InvalidArgumentError(absl::StrCat(
            source_path, ": ", input_where, ": not an input of the model (",
            "inputs: ", absl::StrJoin(known, ", "), ")"));
      }
      absl::Status status = ValidateWarmupInput(
          source_path, input_where, *input, warmup.inputs().at(name));
      if (!status.ok()) return status;
    }
    for (const inference::ModelInput& input : config.input()) {
      if (!warmup.inputs().contains(input.name())) {
        return absl::InvalidArgumentError(absl::StrCat(
            source_path, ": ", where, ": input '", input.name(),
            "': no warmup data; every input of the model needs some"));
      }
    }
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
  // After the inputs: warmup data is checked against them.
  status = ValidateWarmup(config, source_path);
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

#include "config/model_config_loader.h"

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string_view>
#include <system_error>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "google/protobuf/io/tokenizer.h"
#include "google/protobuf/text_format.h"

namespace kiln::config {
namespace {

using inference::ModelConfig;
using inference::ModelInstanceGroup;

constexpr char kConfigFileName[] = "config.pbtxt";

// The public API takes std::string_view; this absl (20220623, as built by
// Debian) has its own absl::string_view, which StrCat and friends take.
absl::string_view ToAbsl(std::string_view s) { return {s.data(), s.size()}; }

// Collects the TextFormat parser's diagnostics instead of letting protobuf
// print them to stderr. Warnings are what AllowUnknownField(true) produces for
// each unknown field; they become LoadedModelConfig::warnings so a config
// written for a newer Triton still loads. The first error is kept for the
// status (later ones are usually consequences of it).
class CollectingErrorCollector : public google::protobuf::io::ErrorCollector {
 public:
  explicit CollectingErrorCollector(absl::string_view source_path)
      : source_path_(source_path) {}

  void AddError(int line, google::protobuf::io::ColumnNumber column,
                const std::string& message) override {
    if (first_error_.empty()) {
      // The parser's numbers are zero-based; editors count from one.
      first_error_ = absl::StrCat(source_path_, ":", line + 1, ":", column + 1,
                                  ": ", message);
    }
  }

  void AddWarning(int line, google::protobuf::io::ColumnNumber column,
                  const std::string& message) override {
    warnings_.push_back(absl::StrCat(source_path_, ":", line + 1, ":",
                                     column + 1, ": ",
                                     DescribeWarning(message)));
  }

  const std::string& first_error() const { return first_error_; }
  std::vector<std::string> TakeWarnings() { return std::move(warnings_); }

 private:
  // protobuf words it as: Message type "inference.ModelInput" has no field
  // named "foo". Reword that case so the user sees the field first; keep any
  // other warning verbatim.
  static std::string DescribeWarning(const std::string& message) {
    constexpr std::string_view kTypePrefix = "Message type \"";
    constexpr std::string_view kFieldMarker = "\" has no field named \"";
    const size_t marker = message.find(kFieldMarker);
    if (message.rfind(kTypePrefix, 0) != 0 || marker == std::string::npos) {
      return message;
    }
    const std::string type =
        message.substr(kTypePrefix.size(), marker - kTypePrefix.size());
    const size_t name_begin = marker + kFieldMarker.size();
    const size_t name_end = message.find('"', name_begin);
    if (name_end == std::string::npos) return message;
    return absl::StrCat("unknown field '",
                        message.substr(name_begin, name_end - name_begin),
                        "' in ", type, " is ignored");
  }

  std::string source_path_;
  std::string first_error_;
  std::vector<std::string> warnings_;
};

// Appends a warning for every field that is set but that Kiln does not act on,
// so users are not surprised when, say, their sequence batcher never runs.
void WarnUnsupportedFields(const ModelConfig& config,
                           absl::string_view model_name,
                           std::vector<std::string>* warnings) {
  const std::string prefix =
      absl::StrCat("config.pbtxt of model '", model_name, "': ");
  auto unsupported = [&](absl::string_view where, absl::string_view field) {
    warnings->push_back(
        absl::StrCat(prefix, where, "field '", field,
                     "' is not supported by Kiln and is ignored"));
  };

  if (config.has_sequence_batching()) unsupported("", "sequence_batching");
  if (config.has_ensemble_scheduling()) unsupported("", "ensemble_scheduling");
  if (config.batch_input_size() > 0) unsupported("", "batch_input");
  if (config.batch_output_size() > 0) unsupported("", "batch_output");
  if (config.has_response_cache()) unsupported("", "response_cache");
  if (config.has_model_repository_agents()) {
    unsupported("", "model_repository_agents");
  }
  if (config.has_model_operations()) unsupported("", "model_operations");
  if (!config.cc_model_filenames().empty()) {
    unsupported("", "cc_model_filenames");
  }
  if (config.optimization().has_cuda()) unsupported("", "optimization.cuda");
  if (config.optimization().has_execution_accelerators()) {
    unsupported("", "optimization.execution_accelerators");
  }
  if (config.model_transaction_policy().decoupled()) {
    unsupported("", "model_transaction_policy.decoupled");
  }

  for (int i = 0; i < config.instance_group_size(); ++i) {
    const ModelInstanceGroup& group = config.instance_group(i);
    const std::string where =
        group.name().empty()
            ? absl::StrCat("instance_group[", i, "]: ")
            : absl::StrCat("instance_group '", group.name(), "': ");
    if (group.gpus_size() > 0) unsupported(where, "gpus");
    if (group.kind() == ModelInstanceGroup::KIND_GPU) {
      warnings->push_back(absl::StrCat(
          prefix, where,
          "kind KIND_GPU is not supported by this build of Kiln; the "
          "instances run on the CPU"));
    }
  }
  for (const inference::ModelInput& input : config.input()) {
    const std::string where = absl::StrCat("input '", input.name(), "': ");
    if (input.has_reshape()) unsupported(where, "reshape");
    if (input.is_shape_tensor()) unsupported(where, "is_shape_tensor");
    if (input.allow_ragged_batch()) unsupported(where, "allow_ragged_batch");
    if (input.optional()) unsupported(where, "optional");
    if (input.is_non_linear_format_io()) {
      unsupported(where, "is_non_linear_format_io");
    }
  }
  for (const inference::ModelOutput& output : config.output()) {
    const std::string where = absl::StrCat("output '", output.name(), "': ");
    if (output.has_reshape()) unsupported(where, "reshape");
    if (output.is_shape_tensor()) unsupported(where, "is_shape_tensor");
    if (!output.label_filename().empty()) unsupported(where, "label_filename");
    if (output.is_non_linear_format_io()) {
      unsupported(where, "is_non_linear_format_io");
    }
  }
}

}  // namespace

absl::StatusOr<LoadedModelConfig> ParseModelConfig(
    std::string_view text, std::string_view source_path,
    std::string_view model_name) {
  const absl::string_view path = ToAbsl(source_path);
  LoadedModelConfig loaded;
  CollectingErrorCollector collector(path);
  google::protobuf::TextFormat::Parser parser;
  parser.RecordErrorsTo(&collector);
  parser.AllowUnknownField(true);
  if (!parser.ParseFromString(std::string(text), &loaded.config)) {
    return absl::InvalidArgumentError(
        collector.first_error().empty()
            ? absl::StrCat(path, ": cannot parse model configuration")
            : collector.first_error());
  }
  loaded.warnings = collector.TakeWarnings();
  WarnUnsupportedFields(loaded.config, ToAbsl(model_name), &loaded.warnings);
  return loaded;
}

absl::StatusOr<LoadedModelConfig> LoadModelConfig(const std::string& model_dir,
                                                  std::string_view model_name) {
  const std::filesystem::path path =
      std::filesystem::path(model_dir) / kConfigFileName;
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) {
    return absl::NotFoundError(absl::StrCat("model '", ToAbsl(model_name),
                                            "': no ", kConfigFileName, " in ",
                                            model_dir));
  }
  std::ifstream file(path, std::ios::binary);
  std::stringstream text;
  if (file.is_open()) text << file.rdbuf();
  if (!file.is_open() || file.bad()) {
    return absl::InternalError(absl::StrCat("model '", ToAbsl(model_name),
                                            "': cannot read ", path.string()));
  }
  absl::StatusOr<LoadedModelConfig> loaded =
      ParseModelConfig(text.str(), path.string(), model_name);
  if (!loaded.ok()) return loaded.status();
  absl::Status valid =
      ValidateModelConfig(loaded->config, path.string(), model_name);
  if (!valid.ok()) return valid;
  NormalizeModelConfig(model_name, &loaded->config);
  return loaded;
}

void NormalizeModelConfig(std::string_view model_name, ModelConfig* config) {
  if (config->name().empty()) config->set_name(std::string(model_name));
  // Triton reports both spellings; clients look for either.
  if (!config->platform().empty() || !config->backend().empty()) {
    config->set_platform(kPytorchPlatform);
    config->set_backend(kPytorchBackend);
  }
  if (config->version_policy().policy_choice_case() ==
      inference::ModelVersionPolicy::POLICY_CHOICE_NOT_SET) {
    config->mutable_version_policy()->mutable_latest()->set_num_versions(1);
  }
  if (config->instance_group_size() == 0) config->add_instance_group();
  for (int i = 0; i < config->instance_group_size(); ++i) {
    ModelInstanceGroup* group = config->mutable_instance_group(i);
    if (group->name().empty()) {
      group->set_name(absl::StrCat(config->name(), "_", i));
    }
    if (group->count() == 0) group->set_count(1);
    // Kiln's instances run on the CPU; AUTO resolves there as in Triton on a
    // host without GPUs.
    if (group->kind() == ModelInstanceGroup::KIND_AUTO) {
      group->set_kind(ModelInstanceGroup::KIND_CPU);
    }
  }
}

std::vector<int64_t> FullShape(
    const ModelConfig& config,
    const google::protobuf::RepeatedField<int64_t>& dims) {
  std::vector<int64_t> shape;
  shape.reserve(dims.size() + 1);
  if (config.max_batch_size() > 0) shape.push_back(-1);
  shape.insert(shape.end(), dims.begin(), dims.end());
  return shape;
}

}  // namespace kiln::config

#include "server/frontend/inference_api.h"

#include <memory>
#include <vector>

#include "absl/strings/str_cat.h"
#include "server/frontend/model_messages.h"
#include "server/grpc/infer_dispatch.h"
#include "server/log.h"

namespace kiln::server {
namespace {

// The protocol extensions that work end to end, on both frontends as in
// tritonserver. perf_analyzer reads "statistics" to decide whether to call
// ModelStatistics; "binary_tensor_data" is the HTTP binary tensor format.
constexpr const char* kExtensions[] = {"model_repository",
                                       "model_configuration", "statistics",
                                       "binary_tensor_data"};

}  // namespace

InferenceApi::InferenceApi(ModelRepository* repository, ServiceOptions options)
    : repository_(repository), options_(std::move(options)) {}

bool InferenceApi::ServerReady() const {
  return !shutting_down_ &&
         (!options_.strict_readiness || repository_->AllReady());
}

absl::Status InferenceApi::ModelReady(const std::string& name,
                                      const std::string& version) const {
  return repository_->Find(name, version).status();
}

void InferenceApi::ServerMetadata(
    inference::ServerMetadataResponse* response) const {
  response->set_name(options_.server_name);
  response->set_version(options_.server_version);
  for (const char* extension : kExtensions) response->add_extensions(extension);
}

absl::Status InferenceApi::ModelMetadata(
    const inference::ModelMetadataRequest& request,
    inference::ModelMetadataResponse* response) const {
  auto model = repository_->Find(request.name(), request.version());
  if (!model.ok()) return model.status();
  auto versions = repository_->ReadyModels(request.name(), "");
  FillModelMetadata(**model,
                    versions.ok() ? *versions
                                  : std::vector<std::shared_ptr<ServedModel>>{},
                    response);
  return absl::OkStatus();
}

absl::Status InferenceApi::ModelConfig(
    const inference::ModelConfigRequest& request,
    inference::ModelConfigResponse* response) const {
  auto model = repository_->Find(request.name(), request.version());
  if (!model.ok()) return model.status();
  *response->mutable_config() = (*model)->config();
  return absl::OkStatus();
}

absl::Status InferenceApi::ModelStatistics(
    const inference::ModelStatisticsRequest& request,
    inference::ModelStatisticsResponse* response) const {
  auto models = repository_->ReadyModels(request.name(), request.version());
  if (!models.ok()) return models.status();
  for (const auto& model : *models) {
    FillModelStatistics(*model, response->add_model_stats());
  }
  return absl::OkStatus();
}

void InferenceApi::RepositoryIndex(
    const inference::RepositoryIndexRequest& request,
    inference::RepositoryIndexResponse* response) const {
  for (const IndexEntry& entry : repository_->Index(request.ready())) {
    auto* model = response->add_models();
    model->set_name(entry.name);
    model->set_version(entry.version);
    model->set_state(entry.state);
    model->set_reason(entry.reason);
  }
}

absl::Status InferenceApi::CheckExplicitMode(const std::string& action,
                                             const std::string& model) const {
  if (options_.mode == config::ModelControlMode::kExplicit) {
    return absl::OkStatus();
  }
  return absl::UnavailableError(absl::StrCat(
      "cannot ", action, " model '", model,
      "': explicit model load / unload requires "
      "--model-control-mode=explicit"));
}

absl::Status InferenceApi::RepositoryModelLoad(
    const inference::RepositoryModelLoadRequest& request) {
  absl::Status status = CheckExplicitMode("load", request.model_name());
  if (status.ok() && !request.parameters().empty()) {
    status = absl::InvalidArgumentError(absl::StrCat(
        "cannot load model '", request.model_name(),
        "': load parameters (config or file overrides) are not supported; "
        "change the model repository instead"));
  }
  if (!status.ok()) return status;
  // Loading can take seconds; it runs on the caller's thread because the
  // client waits for its outcome and loads are rare. Inference calls are
  // not blocked by it.
  LogInfo(absl::StrCat("load requested for model '", request.model_name(),
                       "'"));
  status = repository_->LoadModel(request.model_name());
  if (!status.ok()) {
    status = absl::Status(status.code(),
                          absl::StrCat("failed to load '",
                                       request.model_name(),
                                       "': ", status.message()));
  }
  return status;
}

absl::Status InferenceApi::RepositoryModelUnload(
    const inference::RepositoryModelUnloadRequest& request) {
  absl::Status status = CheckExplicitMode("unload", request.model_name());
  if (!status.ok()) return status;
  LogInfo(absl::StrCat("unload requested for model '", request.model_name(),
                       "'"));
  return repository_->UnloadModel(request.model_name());
}

void InferenceApi::ModelInfer(const inference::ModelInferRequest* request,
                              inference::ModelInferResponse* response,
                              std::function<void(absl::Status)> done) const {
  DispatchInfer(*repository_, request, response, std::move(done));
}

}  // namespace kiln::server

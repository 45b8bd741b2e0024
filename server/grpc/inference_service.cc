#include "server/grpc/inference_service.h"

#include "absl/strings/str_cat.h"
#include "server/grpc/infer_dispatch.h"
#include "server/grpc/model_messages.h"
#include "server/grpc/status_mapping.h"
#include "server/grpc/stream_infer_reactor.h"
#include "server/log.h"

namespace kiln::server {
namespace {

grpc::ServerUnaryReactor* Reply(grpc::CallbackServerContext* context,
                                const absl::Status& status) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  reactor->Finish(ToGrpcStatus(status));
  return reactor;
}

// The protocol extensions that work end to end. perf_analyzer reads
// "statistics" to decide whether to call ModelStatistics.
constexpr const char* kExtensions[] = {"model_repository",
                                       "model_configuration", "statistics"};

}  // namespace

InferenceService::InferenceService(ModelRepository* repository,
                                   ServiceOptions options)
    : repository_(repository), options_(std::move(options)) {}

grpc::ServerUnaryReactor* InferenceService::ServerLive(
    grpc::CallbackServerContext* context, const inference::ServerLiveRequest*,
    inference::ServerLiveResponse* response) {
  response->set_live(true);
  return Reply(context, absl::OkStatus());
}

grpc::ServerUnaryReactor* InferenceService::ServerReady(
    grpc::CallbackServerContext* context, const inference::ServerReadyRequest*,
    inference::ServerReadyResponse* response) {
  response->set_ready(!shutting_down_ &&
                      (!options_.strict_readiness || repository_->AllReady()));
  return Reply(context, absl::OkStatus());
}

grpc::ServerUnaryReactor* InferenceService::ModelReady(
    grpc::CallbackServerContext* context,
    const inference::ModelReadyRequest* request,
    inference::ModelReadyResponse* response) {
  auto model = repository_->Find(request->name(), request->version());
  response->set_ready(model.ok());
  return Reply(context, absl::OkStatus());
}

grpc::ServerUnaryReactor* InferenceService::ServerMetadata(
    grpc::CallbackServerContext* context,
    const inference::ServerMetadataRequest*,
    inference::ServerMetadataResponse* response) {
  response->set_name(options_.server_name);
  response->set_version(options_.server_version);
  for (const char* extension : kExtensions) response->add_extensions(extension);
  return Reply(context, absl::OkStatus());
}

grpc::ServerUnaryReactor* InferenceService::ModelMetadata(
    grpc::CallbackServerContext* context,
    const inference::ModelMetadataRequest* request,
    inference::ModelMetadataResponse* response) {
  auto model = repository_->Find(request->name(), request->version());
  if (!model.ok()) return Reply(context, model.status());
  auto versions = repository_->ReadyModels(request->name(), "");
  FillModelMetadata(**model,
                    versions.ok() ? *versions
                                  : std::vector<std::shared_ptr<ServedModel>>{},
                    response);
  return Reply(context, absl::OkStatus());
}

grpc::ServerUnaryReactor* InferenceService::ModelInfer(
    grpc::CallbackServerContext* context,
    const inference::ModelInferRequest* request,
    inference::ModelInferResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  DispatchInfer(*repository_, request, response,
                [reactor](absl::Status status) {
                  reactor->Finish(ToGrpcStatus(status));
                });
  return reactor;
}

grpc::ServerBidiReactor<inference::ModelInferRequest,
                        inference::ModelStreamInferResponse>*
InferenceService::ModelStreamInfer(grpc::CallbackServerContext*) {
  return new StreamInferReactor(repository_);
}

grpc::ServerUnaryReactor* InferenceService::ModelConfig(
    grpc::CallbackServerContext* context,
    const inference::ModelConfigRequest* request,
    inference::ModelConfigResponse* response) {
  auto model = repository_->Find(request->name(), request->version());
  if (!model.ok()) return Reply(context, model.status());
  *response->mutable_config() = (*model)->config();
  return Reply(context, absl::OkStatus());
}

grpc::ServerUnaryReactor* InferenceService::ModelStatistics(
    grpc::CallbackServerContext* context,
    const inference::ModelStatisticsRequest* request,
    inference::ModelStatisticsResponse* response) {
  auto models = repository_->ReadyModels(request->name(), request->version());
  if (!models.ok()) return Reply(context, models.status());
  for (const auto& model : *models) {
    FillModelStatistics(*model, response->add_model_stats());
  }
  return Reply(context, absl::OkStatus());
}

grpc::ServerUnaryReactor* InferenceService::RepositoryIndex(
    grpc::CallbackServerContext* context,
    const inference::RepositoryIndexRequest* request,
    inference::RepositoryIndexResponse* response) {
  for (const IndexEntry& entry : repository_->Index(request->ready())) {
    auto* model = response->add_models();
    model->set_name(entry.name);
    model->set_version(entry.version);
    model->set_state(entry.state);
    model->set_reason(entry.reason);
  }
  return Reply(context, absl::OkStatus());
}

absl::Status InferenceService::CheckExplicitMode(
    const std::string& action, const std::string& model) const {
  if (options_.mode == config::ModelControlMode::kExplicit) {
    return absl::OkStatus();
  }
  return absl::UnavailableError(absl::StrCat(
      "cannot ", action, " model '", model,
      "': explicit model load / unload requires "
      "--model-control-mode=explicit"));
}

grpc::ServerUnaryReactor* InferenceService::RepositoryModelLoad(
    grpc::CallbackServerContext* context,
    const inference::RepositoryModelLoadRequest* request,
    inference::RepositoryModelLoadResponse*) {
  absl::Status status = CheckExplicitMode("load", request->model_name());
  if (status.ok() && !request->parameters().empty()) {
    status = absl::InvalidArgumentError(absl::StrCat(
        "cannot load model '", request->model_name(),
        "': load parameters (config or file overrides) are not supported; "
        "change the model repository instead"));
  }
  if (!status.ok()) return Reply(context, status);
  // Loading can take seconds; it runs on this gRPC thread because the
  // client waits for its outcome and loads are rare. Inference calls are
  // not blocked by it.
  LogInfo(absl::StrCat("load requested for model '", request->model_name(),
                       "'"));
  status = repository_->LoadModel(request->model_name());
  if (!status.ok()) {
    status = absl::Status(status.code(),
                          absl::StrCat("failed to load '",
                                       request->model_name(),
                                       "': ", status.message()));
  }
  return Reply(context, status);
}

grpc::ServerUnaryReactor* InferenceService::RepositoryModelUnload(
    grpc::CallbackServerContext* context,
    const inference::RepositoryModelUnloadRequest* request,
    inference::RepositoryModelUnloadResponse*) {
  absl::Status status = CheckExplicitMode("unload", request->model_name());
  if (!status.ok()) return Reply(context, status);
  LogInfo(absl::StrCat("unload requested for model '", request->model_name(),
                       "'"));
  return Reply(context, repository_->UnloadModel(request->model_name()));
}

}  // namespace kiln::server

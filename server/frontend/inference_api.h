// The inference protocol's operations, independent of the transport: what
// the gRPC service and the HTTP/REST endpoint both answer. Each takes and
// fills the KServe v2 protobuf messages (proto/grpc_service.proto), so a
// frontend only translates its wire format to and from them.
//
// Errors (absl::Status; each frontend maps codes with its one mapping
// function): NotFound for an unknown model or version, Unavailable for a
// model that is not READY and for load/unload outside explicit mode,
// InvalidArgument for bad requests, Internal for model failures.
//
// Thread safety: every method may be called concurrently. LoadModel and
// UnloadModel block the caller until the repository is done.
#ifndef KILN_SERVER_FRONTEND_INFERENCE_API_H_
#define KILN_SERVER_FRONTEND_INFERENCE_API_H_

#include <atomic>
#include <functional>
#include <string>

#include "absl/status/status.h"
#include "config/server_flags.h"
#include "proto/grpc_service.pb.h"
#include "server/repository/model_repository.h"

namespace kiln::server {

struct ServiceOptions {
  std::string server_name = "kiln";
  std::string server_version;
  bool strict_readiness = true;
  config::ModelControlMode mode = config::ModelControlMode::kNone;
};

class InferenceApi {
 public:
  // `repository` must outlive the API object.
  InferenceApi(ModelRepository* repository, ServiceOptions options);

  // From now on ServerReady answers false (shutdown has begun).
  void SetShuttingDown() { shutting_down_ = true; }

  bool ServerLive() const { return true; }
  bool ServerReady() const;
  // OK when the model version is READY, else the reason it is not
  // (NotFound, Unavailable, InvalidArgument for a malformed version).
  absl::Status ModelReady(const std::string& name,
                          const std::string& version) const;

  void ServerMetadata(inference::ServerMetadataResponse* response) const;
  absl::Status ModelMetadata(const inference::ModelMetadataRequest& request,
                             inference::ModelMetadataResponse* response) const;
  absl::Status ModelConfig(const inference::ModelConfigRequest& request,
                           inference::ModelConfigResponse* response) const;
  // Every READY model when request.name() is empty.
  absl::Status ModelStatistics(
      const inference::ModelStatisticsRequest& request,
      inference::ModelStatisticsResponse* response) const;
  void RepositoryIndex(const inference::RepositoryIndexRequest& request,
                       inference::RepositoryIndexResponse* response) const;
  // Explicit mode only (Unavailable otherwise, as in tritonserver); load
  // parameters (config or file overrides) are refused with InvalidArgument.
  absl::Status RepositoryModelLoad(
      const inference::RepositoryModelLoadRequest& request);
  absl::Status RepositoryModelUnload(
      const inference::RepositoryModelUnloadRequest& request);

  // Runs one inference: see DispatchInfer (server/grpc/infer_dispatch.h).
  // `request` and `response` must stay valid until `done` runs; `done` runs
  // exactly once, inline or on a model instance thread.
  void ModelInfer(const inference::ModelInferRequest* request,
                  inference::ModelInferResponse* response,
                  std::function<void(absl::Status)> done) const;

  ModelRepository* repository() const { return repository_; }

 private:
  absl::Status CheckExplicitMode(const std::string& action,
                                 const std::string& model) const;

  ModelRepository* const repository_;
  const ServiceOptions options_;
  std::atomic<bool> shutting_down_{false};
};

}  // namespace kiln::server

#endif  // KILN_SERVER_FRONTEND_INFERENCE_API_H_

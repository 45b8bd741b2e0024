// inference.GRPCInferenceService on gRPC's callback API. Unary handlers that
// only read repository state answer inline; ModelInfer hands the request to
// the model's instances and returns, so no gRPC thread waits on a model.
#ifndef KILN_SERVER_GRPC_INFERENCE_SERVICE_H_
#define KILN_SERVER_GRPC_INFERENCE_SERVICE_H_

#include <atomic>
#include <string>

#include "proto/grpc_service.grpc.pb.h"
#include "server/repository/model_repository.h"

namespace kiln::server {

struct ServiceOptions {
  std::string server_name = "kiln";
  std::string server_version;
  bool strict_readiness = true;
  config::ModelControlMode mode = config::ModelControlMode::kNone;
};

class InferenceService final
    : public inference::GRPCInferenceService::CallbackService {
 public:
  // `repository` must outlive the service.
  InferenceService(ModelRepository* repository, ServiceOptions options);

  // From now on ServerReady answers false (shutdown has begun).
  void SetShuttingDown() { shutting_down_ = true; }

  grpc::ServerUnaryReactor* ServerLive(
      grpc::CallbackServerContext* context,
      const inference::ServerLiveRequest* request,
      inference::ServerLiveResponse* response) override;
  grpc::ServerUnaryReactor* ServerReady(
      grpc::CallbackServerContext* context,
      const inference::ServerReadyRequest* request,
      inference::ServerReadyResponse* response) override;
  grpc::ServerUnaryReactor* ModelReady(
      grpc::CallbackServerContext* context,
      const inference::ModelReadyRequest* request,
      inference::ModelReadyResponse* response) override;
  grpc::ServerUnaryReactor* ServerMetadata(
      grpc::CallbackServerContext* context,
      const inference::ServerMetadataRequest* request,
      inference::ServerMetadataResponse* response) override;
  grpc::ServerUnaryReactor* ModelMetadata(
      grpc::CallbackServerContext* context,
      const inference::ModelMetadataRequest* request,
      inference::ModelMetadataResponse* response) override;
  grpc::ServerUnaryReactor* ModelInfer(
      grpc::CallbackServerContext* context,
      const inference::ModelInferRequest* request,
      inference::ModelInferResponse* response) override;
  grpc::ServerBidiReactor<inference::ModelInferRequest,
                          inference::ModelStreamInferResponse>*
  ModelStreamInfer(grpc::CallbackServerContext* context) override;
  grpc::ServerUnaryReactor* ModelConfig(
      grpc::CallbackServerContext* context,
      const inference::ModelConfigRequest* request,
      inference::ModelConfigResponse* response) override;
  grpc::ServerUnaryReactor* ModelStatistics(
      grpc::CallbackServerContext* context,
      const inference::ModelStatisticsRequest* request,
      inference::ModelStatisticsResponse* response) override;
  grpc::ServerUnaryReactor* RepositoryIndex(
      grpc::CallbackServerContext* context,
      const inference::RepositoryIndexRequest* request,
      inference::RepositoryIndexResponse* response) override;
  grpc::ServerUnaryReactor* RepositoryModelLoad(
      grpc::CallbackServerContext* context,
      const inference::RepositoryModelLoadRequest* request,
      inference::RepositoryModelLoadResponse* response) override;
  grpc::ServerUnaryReactor* RepositoryModelUnload(
      grpc::CallbackServerContext* context,
      const inference::RepositoryModelUnloadRequest* request,
      inference::RepositoryModelUnloadResponse* response) override;

 private:
  // Load and unload are allowed in explicit mode only, as in tritonserver.
  absl::Status CheckExplicitMode(const std::string& action,
                                 const std::string& model) const;

  ModelRepository* const repository_;
  const ServiceOptions options_;
  std::atomic<bool> shutting_down_{false};
};

}  // namespace kiln::server

#endif  // KILN_SERVER_GRPC_INFERENCE_SERVICE_H_

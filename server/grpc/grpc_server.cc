#include "server/grpc/grpc_server.h"

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/health_check_service_interface.h>

#include <climits>

#include "absl/strings/str_cat.h"

namespace kiln::server {

absl::StatusOr<std::unique_ptr<GrpcServer>> GrpcServer::Start(
    const std::string& address, int port, InferenceService* service) {
  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  int selected_port = 0;
  const std::string target = absl::StrCat(address, ":", port);
  builder.AddListeningPort(target, grpc::InsecureServerCredentials(),
                           &selected_port);
  // gRPC's 4 MB default receive limit breaks image batches; Triton lifts
  // both limits to INT32_MAX.
  builder.SetMaxReceiveMessageSize(INT_MAX);
  builder.SetMaxSendMessageSize(INT_MAX);
  builder.RegisterService(service);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (server == nullptr || selected_port == 0) {
    return absl::UnavailableError(
        absl::StrCat("cannot listen for gRPC on ", target,
                     " (address in use or not available)"));
  }
  return std::unique_ptr<GrpcServer>(
      new GrpcServer(std::move(server), selected_port));
}

void GrpcServer::Shutdown(std::chrono::system_clock::time_point deadline) {
  if (auto* health = server_->GetHealthCheckService()) {
    health->SetServingStatus(false);
  }
  server_->Shutdown(deadline);
  server_->Wait();
}

}  // namespace kiln::server

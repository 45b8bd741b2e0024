// The gRPC endpoint: Kiln's inference service plus grpc.health.v1 and server
// reflection, with message size limits lifted as Triton does.
#ifndef KILN_SERVER_GRPC_GRPC_SERVER_H_
#define KILN_SERVER_GRPC_GRPC_SERVER_H_

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "server/grpc/inference_service.h"

namespace kiln::server {

class GrpcServer {
 public:
  // Listens on address:port (port 0 picks a free one). `service` must
  // outlive the server. Unavailable when the port cannot be bound.
  static absl::StatusOr<std::unique_ptr<GrpcServer>> Start(
      const std::string& address, int port, InferenceService* service);

  int port() const { return port_; }

  // Stops accepting calls, lets in-flight calls finish until `deadline`
  // (then cancels them) and returns when all are done.
  void Shutdown(std::chrono::system_clock::time_point deadline);

 private:
  GrpcServer(std::unique_ptr<grpc::Server> server, int port)
      : server_(std::move(server)), port_(port) {}

  std::unique_ptr<grpc::Server> server_;
  int port_;
};

}  // namespace kiln::server

#endif  // KILN_SERVER_GRPC_GRPC_SERVER_H_

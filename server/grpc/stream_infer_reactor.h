// ModelStreamInfer: a bidirectional stream where each request gets exactly
// one response (or one error_message), in completion order. Requests on one
// stream run concurrently; writes go out one at a time, as gRPC requires.
#ifndef KILN_SERVER_GRPC_STREAM_INFER_REACTOR_H_
#define KILN_SERVER_GRPC_STREAM_INFER_REACTOR_H_

#include <grpcpp/grpcpp.h>

#include <deque>
#include <memory>
#include <mutex>

#include "absl/base/thread_annotations.h"
#include "proto/grpc_service.pb.h"
#include "server/repository/model_repository.h"

namespace kiln::server {

class StreamInferReactor final
    : public grpc::ServerBidiReactor<inference::ModelInferRequest,
                                     inference::ModelStreamInferResponse> {
 public:
  // Starts reading. The reactor deletes itself when gRPC is done with it.
  explicit StreamInferReactor(const ModelRepository* repository);

  void OnReadDone(bool ok) override;
  void OnWriteDone(bool ok) override;
  void OnDone() override;

 private:
  // One request and its response; alive until the response is written.
  struct Call {
    inference::ModelInferRequest request;
    inference::ModelStreamInferResponse response;
  };

  void StartNextRead();
  void Complete(std::shared_ptr<Call> call);
  // Starts the next write, or finishes the stream when nothing is left.
  // Called without mu_ held; gRPC calls are made outside the lock.
  void Advance();

  const ModelRepository* const repository_;
  std::unique_ptr<Call> reading_;
  std::mutex mu_;
  std::deque<std::shared_ptr<Call>> to_write_ ABSL_GUARDED_BY(mu_);
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool reads_done_ ABSL_GUARDED_BY(mu_) = false;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
  int in_flight_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace kiln::server

#endif  // KILN_SERVER_GRPC_STREAM_INFER_REACTOR_H_

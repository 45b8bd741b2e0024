// One inference request from decoded message to encoded reply, shared by
// ModelInfer and ModelStreamInfer.
#ifndef KILN_SERVER_GRPC_INFER_DISPATCH_H_
#define KILN_SERVER_GRPC_INFER_DISPATCH_H_

#include <functional>

#include "absl/status/status.h"
#include "proto/grpc_service.pb.h"
#include "server/repository/model_repository.h"

namespace kiln::server {

// Resolves the model, validates and decodes the inputs, schedules the run
// and encodes the outputs into `*response`; then calls `done` exactly once
// with the request's status. `done` runs inline for requests rejected before
// scheduling, else on a model instance thread.
//
// `request` and `response` must stay valid until `done` runs. Input tensors
// view the request's bytes in place.
void DispatchInfer(const ModelRepository& repository,
                   const inference::ModelInferRequest* request,
                   inference::ModelInferResponse* response,
                   std::function<void(absl::Status)> done);

}  // namespace kiln::server

#endif  // KILN_SERVER_GRPC_INFER_DISPATCH_H_

// Turns the ModelInferResponse that DispatchInfer encodes into the body of
// an HTTP/REST infer reply: {"id"? (when not empty), "model_name",
// "model_version", "parameters"? (when any), "outputs": [{"name",
// "datatype", "shape", "data" | "parameters": {"binary_data_size"}}]},
// followed by the bytes of each binary output in output order (Triton's
// binary tensor data extension). Pure function, thread safe.
#ifndef KILN_SERVER_HTTP_INFER_RESPONSE_JSON_H_
#define KILN_SERVER_HTTP_INFER_RESPONSE_JSON_H_

#include <cstddef>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "proto/grpc_service.pb.h"
#include "server/http/infer_request_json.h"

namespace kiln::server {

struct HttpInferReply {
  std::string body;
  // Size of the JSON part when binary output bytes follow it: the reply
  // then goes out as application/octet-stream with Inference-Header-
  // Content-Length; nullopt for a JSON-only reply (application/json),
  // which includes one whose binary outputs are all empty (as Triton).
  std::optional<size_t> header_length;
};

// `format` says which outputs travel binary. Errors: InvalidArgument when
// an FP16/BF16 output is asked for as JSON (as Triton: they have no JSON
// form); Internal when the response lacks an output's raw bytes.
absl::StatusOr<HttpInferReply> WriteInferResponse(
    const inference::ModelInferResponse& response, const OutputFormat& format);

}  // namespace kiln::server

#endif  // KILN_SERVER_HTTP_INFER_RESPONSE_JSON_H_

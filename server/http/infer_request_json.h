// Turns the body of POST /v2/models/{m}[/versions/{v}]/infer into the
// ModelInferRequest the gRPC path takes, plus how each output must travel
// back (JSON "data" or binary).
//
// Body forms (KServe v2 REST + Triton's binary tensor data extension):
//  - JSON only: {"id"?, "parameters"?, "inputs": [{"name", "datatype",
//    "shape", "parameters"?, "data"}], "outputs"?: [{"name",
//    "parameters"?}]};
//  - a JSON header of `header_length` bytes (the Inference-Header-Content-
//    Length header) followed by the bytes of each input whose parameters
//    carry "binary_data_size", in input order;
//  - Inference-Header-Content-Length: 0: the whole body is the raw bytes of
//    a single-input model's input (ParseRawInferRequest).
//
// Every input lands in raw_input_contents (JSON "data" is converted to its
// bytes): the protocol allows no mix of raw and typed contents in one
// request, and Triton allows JSON and binary inputs side by side. Checks
// against the model config (names, datatypes, shapes, byte sizes, BOOL
// bytes) stay with DispatchInfer's decoder; what is checked here is the
// HTTP form. Errors: InvalidArgument (Unimplemented for the classification
// and shared-memory extensions, which Kiln does not serve), messages naming
// the model and the tensor. Pure functions, thread safe.
#ifndef KILN_SERVER_HTTP_INFER_REQUEST_JSON_H_
#define KILN_SERVER_HTTP_INFER_REQUEST_JSON_H_

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "proto/grpc_service.pb.h"
#include "proto/model_config.pb.h"

namespace kiln::server {

// How the response's outputs travel: binary (appended after the JSON, with
// parameters.binary_data_size) or as JSON "data".
struct OutputFormat {
  // The request parameter "binary_data_output" (true for raw bodies).
  bool binary_by_default = false;
  // parameters.binary_data of the outputs the request names.
  absl::flat_hash_map<std::string, bool> binary;

  bool IsBinary(const std::string& output) const {
    auto it = binary.find(output);
    return it == binary.end() ? binary_by_default : it->second;
  }
};

struct HttpInferRequest {
  inference::ModelInferRequest request;
  OutputFormat output_format;
};

// Parses a JSON (+ binary) body. `header_length` is the value of
// Inference-Header-Content-Length (1..body.size(); the caller has checked
// the range), or nullopt when the header is absent and the whole body is
// JSON. `model_name` and `model_version` come from the URL.
absl::StatusOr<HttpInferRequest> ParseInferRequest(
    std::string_view body, std::optional<size_t> header_length,
    const std::string& model_name, const std::string& model_version);

// Triton's raw binary request: `body` is the bytes of the model's only
// input, whose shape is [1] + dims (batching models) or dims, with at most
// one -1 dim, deduced from the byte count. All outputs come back binary.
// InvalidArgument when the model has more than one input or more than one
// variable dim.
absl::StatusOr<HttpInferRequest> ParseRawInferRequest(
    std::string body, const inference::ModelConfig& config,
    const std::string& model_version);

}  // namespace kiln::server

#endif  // KILN_SERVER_HTTP_INFER_REQUEST_JSON_H_

// The HTTP/REST endpoint's request handling, independent of the HTTP
// library: routes a request (http_routes.h), translates it into the
// protocol's protobuf messages, calls InferenceApi (the same operations the
// gRPC service calls) and writes the reply in Triton's JSON (+ binary) form.
//
// Replies: 200 with a JSON body (application/json) or, for inferences with
// binary outputs, application/octet-stream plus Inference-Header-Content-
// Length; errors {"error": "<message>"} with HttpStatusCode(status); health
// and model-ready answers 200 / 400 (as Triton: 400 means "not ready").
// Unknown paths 404 "Not Found", a known path with the wrong method 405
// "Method Not Allowed".
//
// Thread safety: Handle may be called concurrently. An infer call blocks
// its caller until the model has run (the HTTP library's worker thread is
// the request's context).
#ifndef KILN_SERVER_HTTP_HTTP_SERVICE_H_
#define KILN_SERVER_HTTP_HTTP_SERVICE_H_

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "server/frontend/inference_api.h"
#include "server/http/http_routes.h"

namespace kiln::server {

struct HttpRequest {
  std::string method;  // "GET", "POST", ...; HEAD is answered as GET
  std::string path;    // URL-decoded, without the query string
  std::string_view body;
  // The Inference-Header-Content-Length header, when present.
  std::optional<std::string> inference_header_length;
};

struct HttpResponse {
  int status = 200;
  std::string content_type;  // empty: no body
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
};

class HttpService {
 public:
  struct Options {
    // tritonserver's --http-max-input-size: the largest JSON part of a
    // request (the whole body when it has no binary tensors); larger ones
    // get 413.
    size_t max_input_size = size_t{64} << 20;
  };

  // `api` must outlive the service.
  HttpService(InferenceApi* api, Options options);

  HttpResponse Handle(const HttpRequest& request) const;

 private:
  HttpResponse Dispatch(const Route& route, const HttpRequest& request) const;
  HttpResponse Infer(const Route& route, const HttpRequest& request) const;
  HttpResponse RepositoryIndex(const HttpRequest& request) const;
  HttpResponse ModelLoad(const Route& route, const HttpRequest& request) const;
  HttpResponse ModelUnload(const Route& route,
                           const HttpRequest& request) const;
  // POST /v2/repository/models/{m}/{load,unload}: `verb` names it in
  // errors; `call` is the InferenceApi method taking the request message.
  template <typename Request>
  HttpResponse ChangeModel(const Route& route, const HttpRequest& request,
                           const char* verb,
                           absl::Status (InferenceApi::*call)(const Request&)) const;
  // 413 when a JSON part of `size` bytes is over the limit.
  std::optional<HttpResponse> CheckJsonSize(size_t size) const;

  InferenceApi* const api_;
  const Options options_;
};

}  // namespace kiln::server

#endif  // KILN_SERVER_HTTP_HTTP_SERVICE_H_

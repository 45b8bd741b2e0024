#include "server/http/http_service.h"

#include <future>
#include <memory>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "proto/grpc_service.pb.h"
#include "server/http/infer_request_json.h"
#include "server/http/infer_response_json.h"
#include "server/http/json.h"
#include "server/http/proto_json.h"
#include "server/http/status_mapping.h"

namespace kiln::server {
namespace {

// absl on this platform has its own string_view type, and StrCat takes only
// that one.
absl::string_view Av(std::string_view s) { return {s.data(), s.size()}; }

HttpResponse Reply(int status, std::string content_type = {},
                   std::string body = {}) {
  HttpResponse response;
  response.status = status;
  response.content_type = std::move(content_type);
  response.body = std::move(body);
  return response;
}

HttpResponse JsonReply(const Json& body) {
  return Reply(200, "application/json", DumpJson(body));
}

HttpResponse ErrorReply(int status, absl::string_view message) {
  return Reply(status, "application/json",
               DumpJson(Json{{"error", std::string(message)}}));
}

HttpResponse StatusReply(const absl::Status& status) {
  return ErrorReply(HttpStatusCode(status), status.message());
}

// The JSON object of a request body that may be empty (= {}).
absl::StatusOr<Json> OptionalJsonObject(std::string_view body,
                                        std::string_view what) {
  if (body.empty()) return Json::object();
  Json parsed;
  try {
    parsed = Json::parse(body.begin(), body.end());
  } catch (const Json::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat(
        Av(what), ": the request is not valid JSON: ", e.what()));
  }
  if (!parsed.is_object()) {
    return absl::InvalidArgumentError(
        absl::StrCat(Av(what), ": the request must be a JSON object"));
  }
  return parsed;
}

// The "parameters" of a load or unload request in the protocol's form.
absl::Status ParseRepositoryParameters(
    const Json& request, std::string_view what,
    google::protobuf::Map<std::string, inference::ModelRepositoryParameter>*
        out) {
  auto it = request.find("parameters");
  if (it == request.end()) return absl::OkStatus();
  if (!it->is_object()) {
    return absl::InvalidArgumentError(
        absl::StrCat(Av(what), ": 'parameters' must be a JSON object"));
  }
  for (const auto& [key, value] : it->items()) {
    inference::ModelRepositoryParameter p;
    if (value.is_string()) {
      p.set_string_param(value.get<std::string>());
    } else if (value.is_boolean()) {
      p.set_bool_param(value.get<bool>());
    } else if (value.is_number_integer()) {
      p.set_int64_param(value.get<int64_t>());
    } else {
      return absl::InvalidArgumentError(absl::StrCat(
          Av(what), ": parameter '", key,
          "' must be a string, a bool or an integer"));
    }
    (*out)[key] = std::move(p);
  }
  return absl::OkStatus();
}

absl::Status CheckNoRepositoryName(const Route& route) {
  if (route.repository.empty()) return absl::OkStatus();
  return absl::UnimplementedError(
      absl::StrCat("model '", route.model, "': a repository name in the path ('",
                   route.repository, "') is not supported; use /v2/repository/"
                   "models/", route.model, "/..."));
}

}  // namespace

HttpService::HttpService(InferenceApi* api, Options options)
    : api_(api), options_(options) {}

HttpResponse HttpService::Handle(const HttpRequest& request) const {
  std::optional<Route> route = MatchRoute(request.path);
  if (!route.has_value()) return ErrorReply(404, "Not Found");
  const std::string_view method =
      request.method == "HEAD" ? std::string_view("GET") : request.method;
  if (method != RouteMethod(route->kind)) {
    return ErrorReply(405, "Method Not Allowed");
  }
  return Dispatch(*route, request);
}

std::optional<HttpResponse> HttpService::CheckJsonSize(size_t size) const {
  if (size <= options_.max_input_size) return std::nullopt;
  return ErrorReply(
      413, absl::StrCat("the request's JSON is ", size,
                        " bytes, more than the maximum of ",
                        options_.max_input_size,
                        " bytes; raise it with --http-max-input-size, or send "
                        "tensors as binary data"));
}

HttpResponse HttpService::Dispatch(const Route& route,
                                   const HttpRequest& request) const {
  switch (route.kind) {
    case RouteKind::kHealthLive:
      return Reply(api_->ServerLive() ? 200 : 400);
    case RouteKind::kHealthReady:
      return Reply(api_->ServerReady() ? 200 : 400);
    case RouteKind::kServerMetadata: {
      inference::ServerMetadataResponse response;
      api_->ServerMetadata(&response);
      return JsonReply(ProtoToJson(response));
    }
    case RouteKind::kModelMetadata: {
      inference::ModelMetadataRequest req;
      req.set_name(route.model);
      req.set_version(route.version);
      inference::ModelMetadataResponse response;
      absl::Status status = api_->ModelMetadata(req, &response);
      if (!status.ok()) return StatusReply(status);
      return JsonReply(ProtoToJson(response));
    }
    case RouteKind::kModelReady: {
      absl::Status status = api_->ModelReady(route.model, route.version);
      // Not ready is 400 whatever the reason (the protocol's "4xx = false").
      return status.ok() ? Reply(200) : ErrorReply(400, status.message());
    }
    case RouteKind::kModelConfig: {
      inference::ModelConfigRequest req;
      req.set_name(route.model);
      req.set_version(route.version);
      inference::ModelConfigResponse response;
      absl::Status status = api_->ModelConfig(req, &response);
      if (!status.ok()) return StatusReply(status);
      return JsonReply(ProtoToJson(response.config()));
    }
    case RouteKind::kModelStats: {
      inference::ModelStatisticsRequest req;
      req.set_name(route.model);
      req.set_version(route.version);
      inference::ModelStatisticsResponse response;
      absl::Status status = api_->ModelStatistics(req, &response);
      if (!status.ok()) return StatusReply(status);
      return JsonReply(ProtoToJson(response));
    }
    case RouteKind::kModelInfer:
      return Infer(route, request);
    case RouteKind::kRepositoryIndex:
      return RepositoryIndex(request);
    case RouteKind::kModelLoad:
      return ModelLoad(route, request);
    case RouteKind::kModelUnload:
      return ModelUnload(route, request);
  }
  return ErrorReply(404, "Not Found");
}

HttpResponse HttpService::Infer(const Route& route,
                                const HttpRequest& request) const {
  std::optional<size_t> header_length;
  if (request.inference_header_length.has_value()) {
    uint64_t value = 0;
    if (!absl::SimpleAtoi(*request.inference_header_length, &value) ||
        value > request.body.size()) {
      return ErrorReply(
          400, absl::StrCat("model '", route.model,
                            "': Inference-Header-Content-Length must be the "
                            "byte size of the body's JSON part, an integer "
                            "in 0..",
                            request.body.size(), ", got '",
                            *request.inference_header_length, "'"));
    }
    header_length = value;
  }
  if (auto too_large = CheckJsonSize(header_length.value_or(request.body.size()))) {
    return *too_large;
  }

  absl::StatusOr<HttpInferRequest> parsed;
  if (header_length == size_t{0}) {
    // Triton's raw binary request: the input's name, datatype and shape
    // come from the model's config.
    inference::ModelConfigRequest config_request;
    config_request.set_name(route.model);
    config_request.set_version(route.version);
    inference::ModelConfigResponse config;
    absl::Status status = api_->ModelConfig(config_request, &config);
    if (!status.ok()) return StatusReply(status);
    parsed = ParseRawInferRequest(std::string(request.body), config.config(),
                                  route.version);
  } else {
    parsed = ParseInferRequest(request.body, header_length, route.model,
                               route.version);
  }
  if (!parsed.ok()) return StatusReply(parsed.status());

  // The promise is shared with the callback, which may still be returning
  // from set_value on a model thread when this thread wakes up.
  auto finished = std::make_shared<std::promise<absl::Status>>();
  std::future<absl::Status> result = finished->get_future();
  inference::ModelInferResponse response;
  api_->ModelInfer(&parsed->request, &response,
                   [finished](absl::Status status) {
                     finished->set_value(std::move(status));
                   });
  absl::Status status = result.get();
  if (!status.ok()) return StatusReply(status);

  absl::StatusOr<HttpInferReply> reply =
      WriteInferResponse(response, parsed->output_format);
  if (!reply.ok()) return StatusReply(reply.status());
  HttpResponse out;
  out.body = std::move(reply->body);
  if (reply->header_length.has_value()) {
    out.content_type = "application/octet-stream";
    out.headers.emplace_back("Inference-Header-Content-Length",
                             std::to_string(*reply->header_length));
  } else {
    out.content_type = "application/json";
  }
  return out;
}

HttpResponse HttpService::RepositoryIndex(const HttpRequest& request) const {
  if (auto too_large = CheckJsonSize(request.body.size())) return *too_large;
  auto body = OptionalJsonObject(request.body, "repository index");
  if (!body.ok()) return StatusReply(body.status());
  inference::RepositoryIndexRequest req;
  if (auto ready = body->find("ready"); ready != body->end()) {
    if (!ready->is_boolean()) {
      return ErrorReply(400, "repository index: 'ready' must be a bool");
    }
    req.set_ready(ready->get<bool>());
  }
  inference::RepositoryIndexResponse response;
  api_->RepositoryIndex(req, &response);
  // Triton answers the bare list of entries.
  Json models = Json::array();
  for (const auto& model : response.models()) {
    models.push_back(ProtoToJson(model));
  }
  return JsonReply(models);
}

template <typename Request>
HttpResponse HttpService::ChangeModel(const Route& route, const HttpRequest& request,
                                      const char* verb,
                                      absl::Status (InferenceApi::*call)(const Request&)) const {
  if (auto too_large = CheckJsonSize(request.body.size())) return *too_large;
  absl::Status status = CheckNoRepositoryName(route);
  if (!status.ok()) return StatusReply(status);
  const std::string what = absl::StrCat(verb, " of model '", route.model, "'");
  auto body = OptionalJsonObject(request.body, what);
  if (!body.ok()) return StatusReply(body.status());
  Request req;
  req.set_model_name(route.model);
  status = ParseRepositoryParameters(*body, what, req.mutable_parameters());
  if (status.ok()) status = (api_->*call)(req);
  return status.ok() ? Reply(200) : StatusReply(status);
}

HttpResponse HttpService::ModelLoad(const Route& route,
                                    const HttpRequest& request) const {
  return ChangeModel(route, request, "load", &InferenceApi::RepositoryModelLoad);
}

HttpResponse HttpService::ModelUnload(const Route& route,
                                      const HttpRequest& request) const {
  return ChangeModel(route, request, "unload", &InferenceApi::RepositoryModelUnload);
}

}  // namespace kiln::server

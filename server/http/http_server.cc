#include "server/http/http_server.h"

#include <httplib.h>

#include <exception>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "server/http/json.h"
#include "server/log.h"

namespace kiln::server {
namespace {

// Requests served on one connection before it is closed (the client
// reconnects): with a thread per connection, this keeps one busy client
// from holding a worker forever while other connections wait.
constexpr size_t kKeepAliveMaxCount = 100;

void SetJsonError(httplib::Response& res, int status, std::string message) {
  res.status = status;
  res.set_content(DumpJson(Json{{"error", std::move(message)}}),
                  "application/json");
}

// The {"error": ...} body for a request cpp-httplib refused while reading
// it (the status is already set).
void SetLibraryError(const httplib::Request& req, httplib::Response& res) {
  switch (res.status) {
    case 413:
      SetJsonError(res, 413,
                   absl::StrCat("the request body is larger than the "
                                "server's limit of ",
                                HttpServer::kMaxBodySize, " bytes"));
      break;
    case 415:
      SetJsonError(res, 415,
                   absl::StrCat("unsupported Content-Encoding '",
                                req.get_header_value("Content-Encoding"),
                                "' (gzip and deflate are supported)"));
      break;
    default:
      SetJsonError(res, res.status >= 400 ? res.status : 400,
                   "cannot read the request body (malformed chunked or "
                   "compressed data?)");
      break;
  }
}

// Gives the errors cpp-httplib answers before any handler runs (a
// malformed request line, a URI too long) the protocol's {"error": ...}
// body. Replies of HttpService already have theirs, or are empty on purpose
// (health answers).
httplib::Server::HandlerResponse LibraryError(const httplib::Request& req,
                                              httplib::Response& res) {
  if (res.body.empty() && req.path.empty()) SetLibraryError(req, res);
  return httplib::Server::HandlerResponse::Unhandled;
}

// Hands one request, its body read, to the service.
void Serve(const HttpService& service, const httplib::Request& req,
           std::string_view body, httplib::Response& res) {
  HttpRequest request;
  request.method = req.method;
  request.path = req.path;
  request.body = body;
  if (req.has_header("Inference-Header-Content-Length")) {
    request.inference_header_length =
        req.get_header_value("Inference-Header-Content-Length");
  }
  HttpResponse response = service.Handle(request);
  if (LogVerbosity() >= 1) {
    LogVerbose(absl::StrCat("HTTP ", req.method, " ", req.path, " -> ",
                            response.status));
  }
  res.status = response.status;
  for (auto& [name, value] : response.headers) res.set_header(name, value);
  if (!response.content_type.empty()) {
    res.set_header("Content-Type", response.content_type);
    res.body = std::move(response.body);
  }
}

void OnException(const httplib::Request& req, httplib::Response& res,
                 std::exception_ptr error) {
  std::string what = "unknown exception";
  try {
    std::rethrow_exception(error);
  } catch (const std::exception& e) {
    what = e.what();
  } catch (...) {
  }
  SetJsonError(res, 500,
               absl::StrCat("internal error serving ", req.method, " ",
                            req.path, ": ", what));
}

}  // namespace

HttpServer::HttpServer(InferenceApi* api, const Options& options)
    : service_(api, HttpService::Options{options.max_input_size}),
      server_(std::make_unique<httplib::Server>()) {}

HttpServer::~HttpServer() { Shutdown(); }

absl::StatusOr<std::unique_ptr<HttpServer>> HttpServer::Start(
    const Options& options, InferenceApi* api) {
  if (options.thread_count < 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "HTTP thread count must be at least 1, got ", options.thread_count));
  }
  std::unique_ptr<HttpServer> server(new HttpServer(api, options));
  httplib::Server& http = *server->server_;
  const size_t threads = static_cast<size_t>(options.thread_count);
  http.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  http.set_payload_max_length(kMaxBodySize);
  http.set_keep_alive_max_count(kKeepAliveMaxCount);
  http.set_tcp_nodelay(true);

  const HttpService* service = &server->service_;
  auto without_body = [service](const httplib::Request& req,
                                httplib::Response& res) {
    Serve(*service, req, req.body, res);
  };
  // Bodies are read here rather than by cpp-httplib's default path, which
  // parses an application/x-www-form-urlencoded body (curl's default for
  // --data-binary) as a form and refuses it above 8 KiB.
  auto with_body = [service](const httplib::Request& req,
                             httplib::Response& res,
                             const httplib::ContentReader& read) {
    std::string body;
    if (req.has_header("Content-Length")) {
      // A hint only: a compressed body grows when inflated.
      const uint64_t length = req.get_header_value<uint64_t>("Content-Length");
      if (length <= kMaxBodySize) body.reserve(length);
    }
    if (!read([&body](const char* data, size_t size) {
          body.append(data, size);
          return true;
        })) {
      SetLibraryError(req, res);
      return;
    }
    Serve(*service, req, body, res);
  };
  // Every path and method reaches HttpService, which answers 404 and 405
  // the way tritonserver does.
  http.Get(".*", without_body);
  http.Options(".*", without_body);
  http.Post(".*", with_body);
  http.Put(".*", with_body);
  http.Patch(".*", with_body);
  http.Delete(".*", with_body);
  // A request with neither Content-Length nor Transfer-Encoding has no body
  // (RFC 9112 6.3), as `curl -X POST .../v2/repository/index` sends it;
  // cpp-httplib 0.11 would read until the client closes the connection.
  http.set_pre_routing_handler(
      [service](const httplib::Request& req, httplib::Response& res) {
        if (req.method == "GET" || req.method == "HEAD" ||
            req.method == "OPTIONS" || req.has_header("Content-Length") ||
            req.has_header("Transfer-Encoding")) {
          return httplib::Server::HandlerResponse::Unhandled;
        }
        Serve(*service, req, "", res);
        return httplib::Server::HandlerResponse::Handled;
      });
  http.set_error_handler(httplib::Server::HandlerWithResponse(LibraryError));
  http.set_exception_handler(OnException);

  const std::string where = absl::StrCat(options.address, ":", options.port);
  if (options.port == 0) {
    server->port_ = http.bind_to_any_port(options.address);
    if (server->port_ < 0) {
      return absl::UnavailableError(
          absl::StrCat("cannot listen for HTTP on ", where));
    }
  } else {
    if (!http.bind_to_port(options.address, options.port)) {
      return absl::UnavailableError(absl::StrCat(
          "cannot listen for HTTP on ", where,
          " (is the port in use? --http-port / --allow-http=false)"));
    }
    server->port_ = options.port;
  }
  server->listener_ = std::thread([&http] { http.listen_after_bind(); });
  return server;
}

void HttpServer::Shutdown() {
  if (server_ != nullptr) server_->stop();
  if (listener_.joinable()) listener_.join();
}

}  // namespace kiln::server

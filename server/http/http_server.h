// The HTTP/REST endpoint (default :8000) on cpp-httplib: a pool of worker
// threads, each serving one connection at a time with keep-alive, handing
// every request to HttpService.
//
// cpp-httplib's model: a connection holds its worker thread while it is
// open (up to the keep-alive idle timeout between requests), and an infer
// request blocks its thread until the model has run. So thread_count
// bounds the connections served at once; further connections wait for a
// free thread.
#ifndef KILN_SERVER_HTTP_HTTP_SERVER_H_
#define KILN_SERVER_HTTP_HTTP_SERVER_H_

#include <cstddef>
#include <memory>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "server/frontend/inference_api.h"
#include "server/http/http_service.h"

namespace httplib {
class Server;
}  // namespace httplib

namespace kiln::server {

class HttpServer {
 public:
  struct Options {
    std::string address = "0.0.0.0";
    int port = 8000;  // 0 picks a free port
    int thread_count = 8;
    // The JSON part of a request (HttpService::Options).
    size_t max_input_size = size_t{64} << 20;
  };

  // The largest request body read at all (binary tensors included), as the
  // gRPC endpoint's message limit: INT32_MAX. Larger bodies get 413.
  static constexpr size_t kMaxBodySize = 2147483647;

  // Listens on address:port. `api` must outlive the server. InvalidArgument
  // for a thread count below 1, Unavailable when the port cannot be bound.
  static absl::StatusOr<std::unique_ptr<HttpServer>> Start(
      const Options& options, InferenceApi* api);

  ~HttpServer();

  int port() const { return port_; }

  // Stops accepting connections, lets requests in flight finish and
  // returns when the worker threads are done. Idempotent.
  void Shutdown();

 private:
  HttpServer(InferenceApi* api, const Options& options);

  HttpService service_;
  std::unique_ptr<httplib::Server> server_;
  std::thread listener_;
  int port_ = 0;
};

}  // namespace kiln::server

#endif  // KILN_SERVER_HTTP_HTTP_SERVER_H_

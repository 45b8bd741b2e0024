// The metrics endpoint: GET /metrics answers the Prometheus text (content
// type text/plain; version=0.0.4) that `render` produces; other paths are
// 404. Served by cpp-httplib on its own small thread pool, apart from the
// inference frontends.
//
// Thread safety: `render` is called from the server's worker threads, maybe
// several at once. Shutdown may be called from any thread but a worker; it
// is idempotent and the destructor calls it.
#ifndef KILN_SERVER_METRICS_METRICS_HTTP_SERVER_H_
#define KILN_SERVER_METRICS_METRICS_HTTP_SERVER_H_

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "absl/status/statusor.h"

namespace httplib {
class Server;
}  // namespace httplib

namespace kiln::server::metrics {

class MetricsHttpServer {
 public:
  struct Options {
    std::string address = "0.0.0.0";
    int port = 8002;  // 0: any free port (see port())
    int threads = 2;
  };

  // Binds and starts serving. Unavailable when the address cannot be bound
  // (port taken, bad address), naming it.
  static absl::StatusOr<std::unique_ptr<MetricsHttpServer>> Start(
      const Options& options, std::function<std::string()> render);

  ~MetricsHttpServer();

  int port() const { return port_; }

  // Stops accepting, finishes the scrapes in progress, joins the threads.
  void Shutdown();

 private:
  MetricsHttpServer(std::unique_ptr<httplib::Server> server, int port);

  std::unique_ptr<httplib::Server> server_;
  const int port_;
  std::atomic<bool> listener_done_{false};
  std::thread listener_;
};

}  // namespace kiln::server::metrics

#endif  // KILN_SERVER_METRICS_METRICS_HTTP_SERVER_H_

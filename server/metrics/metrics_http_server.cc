#include "server/metrics/metrics_http_server.h"

#include <httplib.h>
#include <sys/socket.h>

#include <algorithm>
#include <chrono>

#include "absl/strings/str_cat.h"
#include "server/metrics/exposition.h"

namespace kiln::server::metrics {

absl::StatusOr<std::unique_ptr<MetricsHttpServer>> MetricsHttpServer::Start(
    const Options& options, std::function<std::string()> render) {
  auto server = std::make_unique<httplib::Server>();
  const int threads = std::max(1, options.threads);
  // httplib's default pool has a thread per core; scrapes need very few.
  server->new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  // httplib's default sets SO_REUSEPORT, which lets a second server bind
  // the same port and silently take half the scrapes. SO_REUSEADDR alone
  // still allows a restart while old connections linger in TIME_WAIT.
  server->set_socket_options([](socket_t sock) {
    int yes = 1;
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
  });
  // Bounds how long Shutdown waits on an idle keep-alive connection.
  server->set_keep_alive_timeout(2);
  server->Get("/metrics", [render = std::move(render)](const httplib::Request&,
                                                      httplib::Response& response) {
    response.set_content(render(), std::string(kExpositionContentType));
  });
  int port = options.port;
  if (port == 0) {
    port = server->bind_to_any_port(options.address);
    if (port < 0) port = -1;
  } else if (!server->bind_to_port(options.address.c_str(), port)) {
    port = -1;
  }
  if (port < 0) {
    return absl::UnavailableError(absl::StrCat("metrics endpoint: cannot listen on ",
                                               options.address, ":", options.port,
                                               " (address in use or not available)"));
  }
  std::unique_ptr<MetricsHttpServer> started(new MetricsHttpServer(std::move(server), port));
  MetricsHttpServer* self = started.get();
  started->listener_ = std::thread([self] {
    self->server_->listen_after_bind();
    self->listener_done_ = true;
  });
  return started;
}

MetricsHttpServer::MetricsHttpServer(std::unique_ptr<httplib::Server> server, int port)
    : server_(std::move(server)), port_(port) {}

MetricsHttpServer::~MetricsHttpServer() { Shutdown(); }

void MetricsHttpServer::Shutdown() {
  if (!listener_.joinable()) return;
  // httplib's stop() does nothing until the accept loop runs: wait for it
  // (a shutdown right after Start) unless the loop has already ended.
  while (!server_->is_running() && !listener_done_) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  server_->stop();
  listener_.join();
}

}  // namespace kiln::server::metrics

// kiln-server: serves the TorchScript models of one or more model
// repositories over KServe v2 gRPC. Flags follow tritonserver's.
#include <pthread.h>
#include <signal.h>

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <mutex>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "config/server_flags.h"
#include "server/frontend/inference_api.h"
#include "server/grpc/grpc_server.h"
#include "server/grpc/inference_service.h"
#include "server/http/http_server.h"
#include "server/log.h"
#include "server/metrics/metrics_collector.h"
#include "server/metrics/metrics_http_server.h"
#include "server/repository/model_repository.h"
#include "server/version.h"

namespace kiln::server {
namespace {

// Rescans the repositories every `period` until stopped.
class RepositoryPoller {
 public:
  RepositoryPoller(ModelRepository* repository, std::chrono::seconds period)
      : thread_([this, repository, period] {
          std::unique_lock<std::mutex> lock(mu_);
          while (!cv_.wait_for(lock, period, [this] { return stop_; })) {
            lock.unlock();
            absl::Status status = repository->Poll();
            if (!status.ok()) {
              LogError(absl::StrCat("repository poll failed: ",
                                    status.message()));
            }
            lock.lock();
          }
        }) {}
  ~RepositoryPoller() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::thread thread_;
};

int Run(int argc, char** argv) {
  auto flags = config::ParseServerFlags(argc, argv);
  if (!flags.ok()) {
    if (flags.status().code() == absl::StatusCode::kCancelled) {
      std::fputs(std::string(flags.status().message()).c_str(), stdout);
      return 0;
    }
    std::fprintf(stderr, "kiln-server: %s\n%s",
                 std::string(flags.status().message()).c_str(),
                 config::ServerFlagsUsage().c_str());
    return 2;
  }
  SetLogVerbosity(flags->log_verbose);

  // Signals are taken synchronously by this thread (sigwait below); every
  // thread started from here on inherits the mask.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  LogInfo(absl::StrCat("kiln-server ", kKilnVersion, " starting; model "
                       "repositories: ",
                       absl::StrJoin(flags->model_repositories, ", ")));
  ModelRepository::Options repo_options;
  repo_options.repository_paths = flags->model_repositories;
  repo_options.mode = flags->model_control_mode;
  repo_options.intra_op_threads = flags->intra_op_thread_count;
  // Metrics: histograms are kept only when the endpoint is served.
  repo_options.histograms = flags->allow_metrics;
  repo_options.latency_buckets_seconds = flags->metrics_latency_buckets_seconds;
  auto repository = ModelRepository::Create(repo_options);
  if (!repository.ok()) {
    LogError(std::string(repository.status().message()));
    return 1;
  }
  absl::Status loaded = (*repository)->LoadAll(flags->load_models);
  if (!loaded.ok()) {
    if (flags->exit_on_error) {
      LogError(absl::StrCat(loaded.message(),
                            "; exiting (--exit-on-error=true)"));
      (*repository)->Shutdown();
      return 1;
    }
    LogWarning(absl::StrCat(loaded.message(),
                            "; serving the other models"));
  }

  ServiceOptions service_options;
  service_options.server_version = kKilnVersion;
  service_options.strict_readiness = flags->strict_readiness;
  service_options.mode = flags->model_control_mode;
  // One InferenceApi answers both frontends.
  InferenceApi api(repository->get(), service_options);
  InferenceService service(&api);

  std::unique_ptr<GrpcServer> grpc_server;
  if (flags->allow_grpc) {
    auto started =
        GrpcServer::Start(flags->grpc_address, flags->grpc_port, &service);
    if (!started.ok()) {
      LogError(std::string(started.status().message()));
      (*repository)->Shutdown();
      return 1;
    }
    grpc_server = *std::move(started);
    LogInfo(absl::StrCat("Started GRPCInferenceService at ",
                         flags->grpc_address, ":", grpc_server->port()));
  }
  // HTTP/REST: KServe v2 REST + Triton's extensions on --http-port.
  std::unique_ptr<HttpServer> http_server;
  if (flags->allow_http) {
    HttpServer::Options http_options;
    http_options.address = flags->http_address;
    http_options.port = flags->http_port;
    http_options.thread_count = flags->http_thread_count;
    http_options.max_input_size = static_cast<size_t>(flags->http_max_input_size);
    auto started = HttpServer::Start(http_options, &api);
    if (!started.ok()) {
      LogError(std::string(started.status().message()));
      if (grpc_server != nullptr) {
        grpc_server->Shutdown(std::chrono::system_clock::now());
      }
      (*repository)->Shutdown();
      return 1;
    }
    http_server = *std::move(started);
    LogInfo(absl::StrCat("Started HTTPService at ", flags->http_address, ":",
                         http_server->port()));
  }
  // Metrics: Prometheus text on --metrics-address:--metrics-port/metrics.
  std::unique_ptr<metrics::MetricsCollector> metrics_collector;
  std::unique_ptr<metrics::MetricsHttpServer> metrics_server;
  if (flags->allow_metrics) {
    metrics::MetricsCollector::Options collector_options;
    collector_options.repository = repository->get();
    metrics_collector =
        std::make_unique<metrics::MetricsCollector>(collector_options);
    metrics::MetricsHttpServer::Options metrics_options;
    metrics_options.address = flags->metrics_address;
    metrics_options.port = flags->metrics_port;
    auto started = metrics::MetricsHttpServer::Start(
        metrics_options,
        [collector = metrics_collector.get()] { return collector->Collect(); });
    if (!started.ok()) {
      LogError(std::string(started.status().message()));
      if (grpc_server != nullptr) {
        grpc_server->Shutdown(std::chrono::system_clock::now());
      }
      if (http_server != nullptr) http_server->Shutdown();
      (*repository)->Shutdown();
      return 1;
    }
    metrics_server = *std::move(started);
    LogInfo(absl::StrCat("Started Metrics Service at ", flags->metrics_address,
                         ":", metrics_server->port()));
  }

  std::unique_ptr<RepositoryPoller> poller;
  if (flags->model_control_mode == config::ModelControlMode::kPoll) {
    poller = std::make_unique<RepositoryPoller>(
        repository->get(), std::chrono::seconds(flags->repository_poll_secs));
  }

  int signal_number = 0;
  sigwait(&signals, &signal_number);
  LogInfo(absl::StrCat("received ", signal_number == SIGINT ? "SIGINT" : "SIGTERM",
                       "; stopping: no new requests, finishing the ones in "
                       "flight (up to ", flags->exit_timeout_secs, " s)"));
  api.SetShuttingDown();
  poller.reset();
  if (grpc_server != nullptr) {
    grpc_server->Shutdown(std::chrono::system_clock::now() +
                          std::chrono::seconds(flags->exit_timeout_secs));
  }
  // HTTP: requests in flight finish (their models are still loaded).
  if (http_server != nullptr) http_server->Shutdown();
  // Metrics: scrapes read the repository, so they stop before it does.
  if (metrics_server != nullptr) metrics_server->Shutdown();
  (*repository)->Shutdown();
  LogInfo("kiln-server stopped");
  return 0;
}

}  // namespace
}  // namespace kiln::server

int main(int argc, char** argv) { return kiln::server::Run(argc, argv); }

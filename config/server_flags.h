// The kiln-server command line, modelled on tritonserver's so deployment
// scripts and Kubernetes manifests carry over with only the binary renamed.
//
// Syntax: `--flag=value` or `--flag value`. Boolean flags take true, false, 1
// or 0; a bare `--strict-readiness` means true. A flag given twice keeps the
// last value, except the repeatable --model-repository and --load-model.
#ifndef KILN_CONFIG_SERVER_FLAGS_H_
#define KILN_CONFIG_SERVER_FLAGS_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace kiln::config {

enum class ModelControlMode { kNone, kPoll, kExplicit };

struct ServerFlags {
  // --model-repository (repeatable, at least one required).
  std::vector<std::string> model_repositories;
  // --model-control-mode=none|poll|explicit.
  ModelControlMode model_control_mode = ModelControlMode::kNone;
  // --repository-poll-secs: seconds between repository polls in poll mode.
  int repository_poll_secs = 15;
  // --load-model (repeatable; explicit mode only; "*" = all models).
  std::vector<std::string> load_models;
  // --strict-readiness: server ready only when every model is ready.
  bool strict_readiness = true;
  // --exit-on-error: exit when a model fails to load at startup.
  bool exit_on_error = true;
  // --http-port, --grpc-port, --metrics-port.
  int http_port = 8000;
  int grpc_port = 8001;
  int metrics_port = 8002;
  // --allow-http, --allow-grpc, --allow-metrics.
  bool allow_http = true;
  bool allow_grpc = true;
  bool allow_metrics = true;
  // --grpc-address, --http-address: the interfaces to listen on.
  std::string grpc_address = "0.0.0.0";
  std::string http_address = "0.0.0.0";
  // HTTP/REST (on --http-port):
  // --http-thread-count: worker threads; each serves one connection at a
  // time (cpp-httplib's model), so this bounds the connections served at
  // once. Higher than tritonserver's 8, whose event loop multiplexes them.
  int http_thread_count = 32;
  // --http-max-input-size: the largest JSON part of a request in bytes (the
  // whole body when it carries no binary tensors), as tritonserver's.
  int http_max_input_size = 64 << 20;
  // Metrics (Prometheus on --metrics-port):
  // --metrics-address: the interface the metrics endpoint listens on.
  std::string metrics_address = "0.0.0.0";
  // --metrics-latency-buckets-seconds=0.0001,0.00025,...: upper bounds of the
  // kiln_*_duration_seconds latency histograms, strictly increasing.
  std::vector<double> metrics_latency_buckets_seconds = {
      0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
      0.1,    0.25,    0.5,    1,     2.5,    5,     10,   30};
  // --log-verbose=N: 0 = info only; higher is chattier.
  int log_verbose = 0;
  // --exit-timeout-secs: how long shutdown waits for in-flight requests.
  int exit_timeout_secs = 30;
  // --intra-op-threads (Kiln's own): LibTorch intra-op threads per instance;
  // 0 = cores / instances.
  int intra_op_thread_count = 0;
};

// Parses argv[1..argc-1] (argv[0] is the program name).
// Errors:
//   InvalidArgument naming the flag and the bad value, e.g.
//     "--grpc-port: expected an integer in 0..65535, got 'abc'",
//     an unknown flag, a missing value, a missing --model-repository, or
//     --load-model without --model-control-mode=explicit;
//   Cancelled for --help / -h, with ServerFlagsUsage() as the message: the
//     caller prints it and exits 0.
absl::StatusOr<ServerFlags> ParseServerFlags(int argc, const char* const* argv);

// Help text listing every flag with its default.
std::string ServerFlagsUsage();

}  // namespace kiln::config

#endif  // KILN_CONFIG_SERVER_FLAGS_H_

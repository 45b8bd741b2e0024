// The metrics Kiln exports, rendered as Prometheus text from plain samples
// (so the catalogue is tested without models or a server).
//
// Per model version (labels model, version), with Triton's names and
// meanings so Triton dashboards work:
//   counters  nv_inference_request_success, nv_inference_request_failure
//             (+ reason: REJECTED, CANCELED, BACKEND, OTHER),
//             nv_inference_count (batch items), nv_inference_exec_count
//             (executions), nv_inference_{request,queue,compute_input,
//             compute_infer,compute_output}_duration_us (cumulative µs of
//             successful requests)
//   gauges    nv_inference_pending_request_count, nv_model_load_duration_secs
// Kiln's histograms (seconds; _bucket/_sum/_count), of successful requests:
//   kiln_request_duration_seconds, kiln_queue_duration_seconds,
//   kiln_compute_infer_duration_seconds; and kiln_batch_size (items per
//   execution).
// The engine's, per model version:
//   kiln_plans_built_total, kiln_plan_compile_duration_seconds (histogram),
//   kiln_plan_cache_{hits,misses,evictions}_total, kiln_plan_cache_size,
//   kiln_accuracy_checks_total{result=pass|fail, precision=bf16|fp32},
//   kiln_accuracy_worst_max_abs_error, kiln_accuracy_worst_cosine,
//   kiln_reference_fallbacks_total, kiln_nodes_left_to_torchscript.
// The host (no labels): nv_cpu_utilization (0..1), nv_cpu_memory_total_bytes,
//   nv_cpu_memory_used_bytes.
#ifndef KILN_SERVER_METRICS_METRICS_TEXT_H_
#define KILN_SERVER_METRICS_METRICS_TEXT_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "engine/model.h"
#include "server/metrics/histogram.h"
#include "server/metrics/system_metrics.h"
#include "server/repository/model_stats.h"

namespace kiln::server::metrics {

// One model version's figures at scrape time.
struct ModelSample {
  std::string name;
  std::string version;
  ModelStatsSnapshot stats;
  // Absent when the model keeps no histograms: those series are left out.
  std::optional<HistogramSnapshot> request_duration;
  std::optional<HistogramSnapshot> queue_duration;
  std::optional<HistogramSnapshot> compute_infer_duration;
  std::optional<HistogramSnapshot> batch_size;
  std::optional<HistogramSnapshot> plan_compile_duration;
  uint64_t pending_requests = 0;
  double load_seconds = 0;
  engine::RunStats engine;
};

struct HostSample {
  double cpu_utilization = 0;
  std::optional<MemoryInfo> memory;  // absent: the memory series are left out
};

// Every family with its HELP and TYPE lines, models in the given order.
std::string RenderMetrics(const std::vector<ModelSample>& models, const HostSample& host);

}  // namespace kiln::server::metrics

#endif  // KILN_SERVER_METRICS_METRICS_TEXT_H_

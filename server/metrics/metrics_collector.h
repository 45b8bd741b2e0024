// Gathers the metrics at scrape time (a pull model): each READY model
// version's statistics, histograms, queue length and engine counters, plus
// the host's CPU and memory, rendered by RenderMetrics (metrics_text.h).
// Nothing here runs on the request path.
//
// Thread safety: Collect may be called from several threads at once (the
// HTTP server's workers); the CPU reading is serialized internally.
#ifndef KILN_SERVER_METRICS_METRICS_COLLECTOR_H_
#define KILN_SERVER_METRICS_METRICS_COLLECTOR_H_

#include <cstdint>
#include <functional>
#include <mutex>
#include <string>

#include "absl/base/thread_annotations.h"
#include "server/metrics/system_metrics.h"
#include "server/repository/model_repository.h"

namespace kiln::server::metrics {

class MetricsCollector {
 public:
  struct Options {
    const ModelRepository* repository = nullptr;  // not owned; outlives this
    // Where /proc is (tests point it at fixture files).
    std::string proc_dir = "/proc";
    // nv_cpu_utilization covers at least this long a window: scrapes sooner
    // than that after the last window repeat its value.
    int64_t cpu_min_interval_ns = 1'000'000'000;
    // Monotonic nanoseconds; steady_clock when empty.
    std::function<int64_t()> now_ns;
  };

  // Takes the first CPU reading, so the first scrape has a utilization.
  explicit MetricsCollector(Options options);

  // The whole exposition text.
  std::string Collect();

 private:
  int64_t Now() const;
  double CpuUtilizationNow();

  const Options options_;
  std::mutex cpu_mu_;
  CpuUtilization cpu_ ABSL_GUARDED_BY(cpu_mu_);
};

}  // namespace kiln::server::metrics

#endif  // KILN_SERVER_METRICS_METRICS_COLLECTOR_H_

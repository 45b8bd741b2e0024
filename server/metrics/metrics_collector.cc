#include "server/metrics/metrics_collector.h"

#include <chrono>
#include <vector>

#include "server/metrics/metrics_text.h"

namespace kiln::server::metrics {
namespace {

std::optional<HistogramSnapshot> ReadIf(const Histogram* histogram) {
  if (histogram == nullptr) return std::nullopt;
  return histogram->Read();
}

}  // namespace

MetricsCollector::MetricsCollector(Options options)
    : options_(std::move(options)), cpu_(options_.cpu_min_interval_ns) {
  CpuUtilizationNow();
}

int64_t MetricsCollector::Now() const {
  if (options_.now_ns) return options_.now_ns();
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

double MetricsCollector::CpuUtilizationNow() {
  auto text = ReadProcFile(options_.proc_dir + "/stat");
  std::lock_guard<std::mutex> lock(cpu_mu_);
  std::optional<double> value;
  if (text.ok()) {
    auto times = ParseProcStat(*text);
    if (times.ok()) value = cpu_.Update(*times, Now());
  }
  return value.value_or(0.0);
}

std::string MetricsCollector::Collect() {
  std::vector<ModelSample> samples;
  if (options_.repository != nullptr) {
    auto ready = options_.repository->ReadyModels("", "");
    if (ready.ok()) {
      samples.reserve(ready->size());
      for (const std::shared_ptr<ServedModel>& model : *ready) {
        ModelSample s;
        s.name = model->name();
        s.version = std::to_string(model->version());
        const ModelStats& stats = model->stats();
        s.stats = stats.Snapshot();
        s.request_duration = ReadIf(stats.request_duration());
        s.queue_duration = ReadIf(stats.queue_duration());
        s.compute_infer_duration = ReadIf(stats.compute_infer_duration());
        s.batch_size = ReadIf(stats.batch_size());
        s.plan_compile_duration = ReadIf(stats.plan_compile_duration());
        s.pending_requests = model->pending();
        s.load_seconds = model->load_seconds();
        s.engine = model->engine_stats();
        samples.push_back(std::move(s));
      }
    }
  }
  HostSample host;
  host.cpu_utilization = CpuUtilizationNow();
  auto meminfo = ReadProcFile(options_.proc_dir + "/meminfo");
  if (meminfo.ok()) {
    auto memory = ParseMeminfo(*meminfo);
    if (memory.ok()) host.memory = *memory;
  }
  return RenderMetrics(samples, host);
}

}  // namespace kiln::server::metrics

#include "server/metrics/metrics_text.h"

#include <functional>

#include "server/metrics/exposition.h"

namespace kiln::server::metrics {
namespace {

Labels ModelLabels(const ModelSample& m) { return {{"model", m.name}, {"version", m.version}}; }

// One family with one sample per model.
template <typename T>
void PerModel(ExpositionWriter& w, const std::vector<ModelSample>& models, const char* name,
              const char* help, MetricType type,
              const std::function<T(const ModelSample&)>& value) {
  w.Family(name, help, type);
  for (const ModelSample& m : models) w.Sample(name, ModelLabels(m), value(m));
}

void Counter(ExpositionWriter& w, const std::vector<ModelSample>& models, const char* name,
             const char* help, const std::function<uint64_t(const ModelSample&)>& value) {
  PerModel<uint64_t>(w, models, name, help, MetricType::kCounter, value);
}

void Gauge(ExpositionWriter& w, const std::vector<ModelSample>& models, const char* name,
           const char* help, const std::function<double(const ModelSample&)>& value) {
  PerModel<double>(w, models, name, help, MetricType::kGauge, value);
}

void PerModelHistogram(
    ExpositionWriter& w, const std::vector<ModelSample>& models, const char* name,
    const char* help,
    const std::function<const std::optional<HistogramSnapshot>&(const ModelSample&)>& pick) {
  w.Family(name, help, MetricType::kHistogram);
  for (const ModelSample& m : models) {
    const std::optional<HistogramSnapshot>& h = pick(m);
    if (h.has_value()) w.Histogram(name, ModelLabels(m), *h);
  }
}

uint64_t Micros(uint64_t ns) { return ns / 1000; }

}  // namespace

std::string RenderMetrics(const std::vector<ModelSample>& models, const HostSample& host) {
  ExpositionWriter w;

  // Triton's request metrics.
  Counter(w, models, "nv_inference_request_success",
          "Number of successful inference requests, all batch sizes",
          [](const ModelSample& m) { return m.stats.success.count; });
  w.Family("nv_inference_request_failure",
           "Number of failed inference requests, all batch sizes, by reason (REJECTED: "
           "queue full or queue timeout; CANCELED: cancelled by the client; BACKEND: the "
           "model failed; OTHER: invalid request and the rest)",
           MetricType::kCounter);
  for (const ModelSample& m : models) {
    for (int r = 0; r < kFailureReasonCount; ++r) {
      w.Sample("nv_inference_request_failure",
               {{"model", m.name},
                {"version", m.version},
                {"reason", FailureReasonName(static_cast<FailureReason>(r))}},
               m.stats.fail_by_reason[r]);
    }
  }
  Counter(w, models, "nv_inference_count",
          "Number of inferences performed (a request of batch n counts n)",
          [](const ModelSample& m) { return m.stats.inference_count; });
  Counter(w, models, "nv_inference_exec_count",
          "Number of model executions performed (a dynamically formed batch counts once)",
          [](const ModelSample& m) { return m.stats.execution_count; });
  Counter(w, models, "nv_inference_request_duration_us",
          "Cumulative end-to-end duration of successful inference requests in microseconds",
          [](const ModelSample& m) { return Micros(m.stats.success.ns); });
  Counter(w, models, "nv_inference_queue_duration_us",
          "Cumulative time successful requests waited in the scheduling queue in microseconds",
          [](const ModelSample& m) { return Micros(m.stats.queue.ns); });
  Counter(w, models, "nv_inference_compute_input_duration_us",
          "Cumulative time successful requests spent preparing inputs in microseconds",
          [](const ModelSample& m) { return Micros(m.stats.compute_input.ns); });
  Counter(w, models, "nv_inference_compute_infer_duration_us",
          "Cumulative time successful requests spent executing the model in microseconds",
          [](const ModelSample& m) { return Micros(m.stats.compute_infer.ns); });
  Counter(w, models, "nv_inference_compute_output_duration_us",
          "Cumulative time successful requests spent producing outputs in microseconds",
          [](const ModelSample& m) { return Micros(m.stats.compute_output.ns); });
  Gauge(w, models, "nv_inference_pending_request_count",
        "Instantaneous number of requests queued for the model and not yet executing",
        [](const ModelSample& m) { return static_cast<double>(m.pending_requests); });
  Gauge(w, models, "nv_model_load_duration_secs",
        "Model load time in seconds (loading, compiling warmup shapes, warmup runs)",
        [](const ModelSample& m) { return m.load_seconds; });

  // Kiln's latency and batch histograms.
  PerModelHistogram(w, models, "kiln_request_duration_seconds",
                    "End-to-end duration of successful inference requests in seconds",
                    [](const ModelSample& m) -> const auto& { return m.request_duration; });
  PerModelHistogram(w, models, "kiln_queue_duration_seconds",
                    "Time successful requests waited in the scheduling queue in seconds",
                    [](const ModelSample& m) -> const auto& { return m.queue_duration; });
  PerModelHistogram(w, models, "kiln_compute_infer_duration_seconds",
                    "Model execution time of successful requests in seconds (the whole "
                    "batch's execution, for each request in it)",
                    [](const ModelSample& m) -> const auto& { return m.compute_infer_duration; });
  PerModelHistogram(w, models, "kiln_batch_size",
                    "Batch size (items) of each model execution",
                    [](const ModelSample& m) -> const auto& { return m.batch_size; });

  // The engine.
  Counter(w, models, "kiln_plans_built_total",
          "Plans compiled for new input signatures (kept or not)",
          [](const ModelSample& m) { return m.engine.plans_built; });
  PerModelHistogram(w, models, "kiln_plan_compile_duration_seconds",
                    "Time to build one plan (compile, accuracy check, precision fallback) in "
                    "seconds",
                    [](const ModelSample& m) -> const auto& { return m.plan_compile_duration; });
  Counter(w, models, "kiln_plan_cache_hits_total", "Runs served by a cached plan",
          [](const ModelSample& m) { return m.engine.plan_cache_hits; });
  Counter(w, models, "kiln_plan_cache_misses_total",
          "Runs that found no cached plan for their signature (built it or waited for its build)",
          [](const ModelSample& m) { return m.engine.plan_cache_misses; });
  Counter(w, models, "kiln_plan_cache_evictions_total",
          "Plans dropped from the cache to stay within its capacity",
          [](const ModelSample& m) { return m.engine.plan_cache_evictions; });
  Gauge(w, models, "kiln_plan_cache_size", "Plans in the cache now",
        [](const ModelSample& m) { return static_cast<double>(m.engine.plan_cache_size); });
  w.Family("kiln_accuracy_checks_total",
           "Accuracy checks of new plans against the TorchScript reference, by result and "
           "by the precision the plan was built in",
           MetricType::kCounter);
  for (const ModelSample& m : models) {
    const struct {
      const char* result;
      const char* precision;
      uint64_t value;
    } checks[] = {
        {"pass", "bf16", m.engine.accuracy_checks_bf16_passed},
        {"fail", "bf16", m.engine.accuracy_checks_bf16_failed},
        {"pass", "fp32", m.engine.accuracy_checks_fp32_passed},
        {"fail", "fp32", m.engine.accuracy_checks_fp32_failed},
    };
    for (const auto& c : checks) {
      w.Sample("kiln_accuracy_checks_total",
               {{"model", m.name},
                {"version", m.version},
                {"result", c.result},
                {"precision", c.precision}},
               c.value);
    }
  }
  Gauge(w, models, "kiln_accuracy_worst_max_abs_error",
        "Largest max abs error of a kept plan's output, relative to the reference's max |value|",
        [](const ModelSample& m) { return m.engine.worst_max_abs_error; });
  Gauge(w, models, "kiln_accuracy_worst_cosine",
        "Lowest cosine similarity of a kept plan's output with the reference (1 = none kept)",
        [](const ModelSample& m) { return m.engine.worst_cosine; });
  Counter(w, models, "kiln_reference_fallbacks_total",
          "Input signatures that run the TorchScript reference instead of a plan",
          [](const ModelSample& m) { return m.engine.reference_fallbacks; });
  Gauge(w, models, "kiln_nodes_left_to_torchscript",
        "Graph nodes the latest plan left to the TorchScript interpreter",
        [](const ModelSample& m) {
          return static_cast<double>(m.engine.nodes_left_to_torchscript);
        });

  // The host.
  w.Family("nv_cpu_utilization", "CPU utilization rate [0.0 - 1.0], all cores",
           MetricType::kGauge);
  w.Sample("nv_cpu_utilization", {}, host.cpu_utilization);
  if (host.memory.has_value()) {
    w.Family("nv_cpu_memory_total_bytes", "CPU total memory (RAM), in bytes",
             MetricType::kGauge);
    w.Sample("nv_cpu_memory_total_bytes", {}, host.memory->total_bytes);
    w.Family("nv_cpu_memory_used_bytes", "CPU used memory (RAM), in bytes",
             MetricType::kGauge);
    w.Sample("nv_cpu_memory_used_bytes", {}, host.memory->used_bytes);
  }
  return w.Take();
}

}  // namespace kiln::server::metrics

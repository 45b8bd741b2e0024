// Per model-version inference statistics with Triton's semantics:
// `success`, `queue` and the compute phases count successful requests,
// `fail` failed ones (by reason, as Triton's nv_inference_request_failure);
// inference_count counts batch items, execution_count model executions.
// With histograms on (the metrics endpoint is served) it also keeps Kiln's
// latency, batch-size and compile-time histograms.
//
// The ModelStatistics RPC and the metrics endpoint both read these counters
// (Snapshot, the histogram accessors) when asked: nothing is copied per
// request.
//
// Thread safety: every method may be called concurrently. The request path
// (RecordSuccess, RecordExecution, RecordFailure) is lock free: relaxed
// atomic adds, plus one mutex-guarded map only for an execution larger than
// the slots reserved at construction (never, for a validated config). A
// Snapshot taken while requests complete may count a request in one field
// and not yet in the next; every field is exact once they have completed.
#ifndef KILN_SERVER_REPOSITORY_MODEL_STATS_H_
#define KILN_SERVER_REPOSITORY_MODEL_STATS_H_

#include <array>
#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "server/metrics/histogram.h"

namespace kiln::server {

struct DurationStat {
  uint64_t count = 0;
  uint64_t ns = 0;
};

struct BatchStat {
  DurationStat compute_input;
  DurationStat compute_infer;
  DurationStat compute_output;
};

// Why a request failed, as Triton's `reason` label says it.
enum class FailureReason {
  kRejected,  // the scheduler turned it away: queue full, queue timeout
  kCanceled,  // the client cancelled it
  kBackend,   // the model failed executing it
  kOther,     // anything else: an invalid request, a model being unloaded
};
inline constexpr int kFailureReasonCount = 4;
// "REJECTED", "CANCELED", "BACKEND", "OTHER".
const char* FailureReasonName(FailureReason reason);

// Phase durations of one successful request, in nanoseconds.
struct RequestTimings {
  uint64_t request_ns = 0;  // arrival -> response ready
  uint64_t queue_ns = 0;
  uint64_t compute_input_ns = 0;
  uint64_t compute_infer_ns = 0;
  uint64_t compute_output_ns = 0;
};

struct ModelStatsSnapshot {
  uint64_t last_inference_ms = 0;  // since the epoch; 0 = never
  uint64_t inference_count = 0;
  uint64_t execution_count = 0;
  DurationStat success, fail, queue, compute_input, compute_infer,
      compute_output;
  // Failed requests by FailureReason; they sum to fail.count.
  std::array<uint64_t, kFailureReasonCount> fail_by_reason{};
  std::map<uint64_t, BatchStat> batch_stats;  // by batch size
};

class ModelStats {
 public:
  struct Options {
    // Executions of up to this many items (at least 1; capped at 1024) are
    // counted in preallocated lock-free slots.
    int64_t max_batch_size = 0;
    // Keep the histograms (request, queue and compute-infer latency, executed
    // batch sizes, plan compile times).
    bool histograms = false;
    // Bounds of the latency histograms, in seconds (with histograms on).
    std::vector<double> latency_buckets_seconds;
  };

  // Bounds of kiln_batch_size: 1, 2, 4, ..., 128.
  static const std::vector<double>& BatchSizeBuckets();
  // Bounds of kiln_plan_compile_duration_seconds: 10 ms .. 10 min.
  static const std::vector<double>& CompileBucketsSeconds();

  // InvalidArgument for bad latency buckets (histograms on).
  static absl::StatusOr<std::unique_ptr<ModelStats>> Create(const Options& options);
  // No histograms, default slots: for tests and tools.
  ModelStats();

  ModelStats(const ModelStats&) = delete;
  ModelStats& operator=(const ModelStats&) = delete;

  // A successful request of `batch_size` items (1 for models without
  // batching); its execution is recorded separately.
  void RecordSuccess(uint64_t batch_size, const RequestTimings& timings,
                     uint64_t now_ms);
  // One model execution of `batch_size` items (the requests it served).
  void RecordExecution(uint64_t batch_size, uint64_t compute_input_ns,
                       uint64_t compute_infer_ns, uint64_t compute_output_ns);
  void RecordFailure(FailureReason reason, uint64_t request_ns, uint64_t now_ms);
  // One plan built by the engine (kept or not), for the compile histogram.
  void RecordPlanBuild(uint64_t build_ns);

  ModelStatsSnapshot Snapshot() const;

  // The histograms; null when histograms are off. Seconds, except
  // batch_size (items). Latencies are those of successful requests.
  const metrics::Histogram* request_duration() const { return request_duration_.get(); }
  const metrics::Histogram* queue_duration() const { return queue_duration_.get(); }
  const metrics::Histogram* compute_infer_duration() const {
    return compute_infer_duration_.get();
  }
  const metrics::Histogram* batch_size() const { return batch_size_.get(); }
  const metrics::Histogram* plan_compile_duration() const {
    return plan_compile_duration_.get();
  }

 private:
  struct AtomicDuration {
    std::atomic<uint64_t> count{0};
    std::atomic<uint64_t> ns{0};
    void Add(uint64_t duration_ns) {
      count.fetch_add(1, std::memory_order_relaxed);
      ns.fetch_add(duration_ns, std::memory_order_relaxed);
    }
    DurationStat Load() const {
      return {count.load(std::memory_order_relaxed), ns.load(std::memory_order_relaxed)};
    }
  };
  struct BatchSlot {
    AtomicDuration compute_input, compute_infer, compute_output;
  };

  explicit ModelStats(size_t batch_slots);

  std::atomic<uint64_t> last_inference_ms_{0};
  std::atomic<uint64_t> inference_count_{0};
  std::atomic<uint64_t> execution_count_{0};
  AtomicDuration success_, fail_, queue_, compute_input_, compute_infer_, compute_output_;
  std::array<std::atomic<uint64_t>, kFailureReasonCount> fail_by_reason_{};
  // Index = batch size, 0..batch_slot_count_ - 1.
  const size_t batch_slot_count_;
  const std::unique_ptr<BatchSlot[]> batch_slots_;
  mutable std::mutex overflow_mu_;
  std::map<uint64_t, BatchStat> overflow_ ABSL_GUARDED_BY(overflow_mu_);

  std::unique_ptr<metrics::Histogram> request_duration_, queue_duration_,
      compute_infer_duration_, batch_size_, plan_compile_duration_;
};

}  // namespace kiln::server

#endif  // KILN_SERVER_REPOSITORY_MODEL_STATS_H_

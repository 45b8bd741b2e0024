// Per model-version inference statistics with Triton's semantics:
// `success`, `queue` and the compute phases count successful requests,
// `fail` failed ones; inference_count counts batch items, execution_count
// model executions. Thread safe.
#ifndef KILN_SERVER_REPOSITORY_MODEL_STATS_H_
#define KILN_SERVER_REPOSITORY_MODEL_STATS_H_

#include <cstdint>
#include <map>
#include <mutex>

#include "absl/base/thread_annotations.h"

namespace kiln::server {

struct DurationStat {
  uint64_t count = 0;
  uint64_t ns = 0;
  void Add(uint64_t duration_ns) {
    ++count;
    ns += duration_ns;
  }
};

struct BatchStat {
  DurationStat compute_input;
  DurationStat compute_infer;
  DurationStat compute_output;
};

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
  std::map<uint64_t, BatchStat> batch_stats;  // by batch size
};

class ModelStats {
 public:
  // A successful request of `batch_size` items (1 for models without
  // batching); its execution is recorded separately.
  void RecordSuccess(uint64_t batch_size, const RequestTimings& timings,
                     uint64_t now_ms);
  // One model execution of `batch_size` items (the requests it served).
  void RecordExecution(uint64_t batch_size, uint64_t compute_input_ns,
                       uint64_t compute_infer_ns, uint64_t compute_output_ns);
  void RecordFailure(uint64_t request_ns, uint64_t now_ms);
  ModelStatsSnapshot Snapshot() const;

 private:
  mutable std::mutex mu_;
  ModelStatsSnapshot stats_ ABSL_GUARDED_BY(mu_);
};

}  // namespace kiln::server

#endif  // KILN_SERVER_REPOSITORY_MODEL_STATS_H_

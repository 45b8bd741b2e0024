#include "server/repository/model_stats.h"

namespace kiln::server {

void ModelStats::RecordSuccess(uint64_t batch_size,
                               const RequestTimings& timings, uint64_t now_ms) {
  std::lock_guard<std::mutex> lock(mu_);
  stats_.last_inference_ms = now_ms;
  stats_.inference_count += batch_size;
  stats_.success.Add(timings.request_ns);
  stats_.queue.Add(timings.queue_ns);
  stats_.compute_input.Add(timings.compute_input_ns);
  stats_.compute_infer.Add(timings.compute_infer_ns);
  stats_.compute_output.Add(timings.compute_output_ns);
}

void ModelStats::RecordExecution(uint64_t batch_size, uint64_t compute_input_ns,
                                 uint64_t compute_infer_ns,
                                 uint64_t compute_output_ns) {
  std::lock_guard<std::mutex> lock(mu_);
  stats_.execution_count += 1;
  BatchStat& batch = stats_.batch_stats[batch_size];
  batch.compute_input.Add(compute_input_ns);
  batch.compute_infer.Add(compute_infer_ns);
  batch.compute_output.Add(compute_output_ns);
}

void ModelStats::RecordFailure(uint64_t request_ns, uint64_t now_ms) {
  std::lock_guard<std::mutex> lock(mu_);
  stats_.last_inference_ms = now_ms;
  stats_.fail.Add(request_ns);
}

ModelStatsSnapshot ModelStats::Snapshot() const {
  std::lock_guard<std::mutex> lock(mu_);
  return stats_;
}

}  // namespace kiln::server

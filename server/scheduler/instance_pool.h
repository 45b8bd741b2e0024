// A model's execution instances: N threads, each running one job at a time,
// fed from one FIFO queue. Requests run alone (no batching yet); the dynamic
// batcher will sit in front of this pool.
//
// Thread safety: Enqueue may be called from any thread. Jobs' `done`
// callbacks run on instance threads, exactly once per accepted job. Shutdown
// runs every job already accepted before it returns; it must not be called
// from an instance thread (it joins them).
#ifndef KILN_SERVER_SCHEDULER_INSTANCE_POOL_H_
#define KILN_SERVER_SCHEDULER_INSTANCE_POOL_H_

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "engine/model.h"

namespace kiln::server {

struct JobTimings {
  uint64_t queue_ns = 0;    // enqueue -> an instance picked the job up
  uint64_t compute_ns = 0;  // the engine's Run
};

struct InferenceJob {
  std::vector<engine::Tensor> inputs;
  int64_t batch_size = 0;
  std::chrono::steady_clock::time_point enqueue_time;
  std::function<void(absl::StatusOr<engine::Outputs>, const JobTimings&)> done;
};

class InstancePool {
 public:
  using RunFn = std::function<absl::StatusOr<engine::Outputs>(
      const std::vector<engine::Tensor>&)>;

  struct Options {
    int instance_count = 1;
    std::string label;  // for thread names and messages: "resnet18 v1"
  };

  // InvalidArgument when instance_count < 1.
  static absl::StatusOr<std::unique_ptr<InstancePool>> Create(
      const Options& options, RunFn run);

  ~InstancePool();

  // Accepts the job, or returns Unavailable once Shutdown has begun (the
  // job's callback is then not called).
  absl::Status Enqueue(std::unique_ptr<InferenceJob> job);

  // Stops accepting, finishes every accepted job, joins the threads.
  void Shutdown();

  size_t pending() const;

 private:
  InstancePool(const Options& options, RunFn run);
  void InstanceLoop();

  const Options options_;
  const RunFn run_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::unique_ptr<InferenceJob>> queue_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::thread> threads_;
  std::once_flag shutdown_once_;
};

}  // namespace kiln::server

#endif  // KILN_SERVER_SCHEDULER_INSTANCE_POOL_H_

// A model's scheduler: the request queue (priorities, queue policies), the
// dynamic batcher and the execution instances that share one engine model.
//
// Each instance is a thread. An idle instance takes the queue lock, applies
// request timeouts and asks DecideBatch (batch_policy.h) whether to send a
// batch now; so batches form only when an instance can take one, and a
// model without dynamic batching runs each request alone, in arrival order.
// A batch's inputs are concatenated (one copy per tensor), run once, and the
// outputs split back per request as views (no copy). A failing batch fails
// each of its requests with the error.
//
// Thread safety: Enqueue may be called from any thread. Each accepted job's
// `done` runs exactly once, on an instance thread (in acceptance order with
// preserve_ordering). Shutdown runs every accepted job before it returns,
// without waiting for batching delays; it must not be called from an
// instance thread (it joins them).
#ifndef KILN_SERVER_SCHEDULER_MODEL_SCHEDULER_H_
#define KILN_SERVER_SCHEDULER_MODEL_SCHEDULER_H_

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "engine/model.h"
#include "server/scheduler/batch_policy.h"
#include "server/scheduler/request_queue.h"
#include "server/scheduler/response_sequencer.h"

namespace kiln::server {

// Phase durations of one request, as Triton's statistics count them.
struct JobTimings {
  uint64_t queue_ns = 0;          // accepted -> its batch started
  uint64_t compute_input_ns = 0;  // assembling the batch's inputs
  uint64_t compute_infer_ns = 0;  // the engine's Run of the whole batch
  int64_t execution_batch_size = 0;  // items in the execution it was part of
};

struct InferenceJob {
  std::vector<engine::Tensor> inputs;  // config input order
  int64_t batch_size = 1;              // items; 1 for models without batching
  uint64_t priority = 0;               // request parameter; 0 = default level
  uint64_t timeout_us = 0;             // request parameter; 0 = none
  std::function<void(absl::StatusOr<engine::Outputs>, const JobTimings&)> done;

  // Set by the scheduler.
  int64_t enqueue_ns = 0;
  uint64_t ticket = 0;
};

// One model execution that succeeded, for the batch statistics.
struct ExecutionRecord {
  int64_t batch_size = 0;
  uint64_t compute_input_ns = 0;
  uint64_t compute_infer_ns = 0;
  uint64_t compute_output_ns = 0;  // splitting the outputs per request
};

class ModelScheduler {
 public:
  using RunFn = std::function<absl::StatusOr<engine::Outputs>(
      const std::vector<engine::Tensor>&)>;

  struct Options {
    int instance_count = 1;
    std::string label;  // "'resnet18' version 1", for thread names and errors
    BatchPolicy batching;
    QueueOptions queue;
    bool preserve_ordering = false;
    // Monotonic nanoseconds; steady_clock when empty.
    std::function<int64_t()> now_ns;
    // Called on the instance thread after every successful execution,
    // before its replies are delivered.
    std::function<void(const ExecutionRecord&)> on_execution;
  };

  // InvalidArgument when instance_count < 1.
  static absl::StatusOr<std::unique_ptr<ModelScheduler>> Create(Options options, RunFn run);

  ~ModelScheduler();

  // Accepts the job, or returns Unavailable when its priority level's queue
  // is full ("Exceeds maximum queue size", a RejectedError) or once Shutdown
  // has begun; the job's `done` is then not called. A job whose queue
  // timeout expires (REJECT policy) gets RejectedError("Request timeout
  // expired") in its `done` (rejection.h).
  absl::Status Enqueue(std::unique_ptr<InferenceJob> job);

  // Stops accepting, runs every accepted job, joins the threads.
  void Shutdown();

  // Requests queued and not yet taken by an instance.
  size_t pending() const;

 private:
  ModelScheduler(Options options, RunFn run);
  void InstanceLoop();
  void Execute(std::vector<std::unique_ptr<InferenceJob>> jobs);
  void Finish(std::unique_ptr<InferenceJob> job, absl::StatusOr<engine::Outputs> result,
              const JobTimings& timings);
  int64_t Now() const;

  const Options options_;
  const RunFn run_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  RequestQueue<std::unique_ptr<InferenceJob>> queue_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  ResponseSequencer sequencer_;
  std::vector<std::thread> threads_;
  std::once_flag shutdown_once_;
};

}  // namespace kiln::server

#endif  // KILN_SERVER_SCHEDULER_MODEL_SCHEDULER_H_

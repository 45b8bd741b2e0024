#include "server/scheduler/model_scheduler.h"

#include <pthread.h>

#include <chrono>

#include "absl/strings/str_cat.h"
#include "server/scheduler/batch_assembly.h"
#include "server/scheduler/rejection.h"

namespace kiln::server {

absl::StatusOr<std::unique_ptr<ModelScheduler>> ModelScheduler::Create(Options options,
                                                                       RunFn run) {
  if (options.instance_count < 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        options.label, ": instance count must be at least 1, got ", options.instance_count));
  }
  return std::unique_ptr<ModelScheduler>(new ModelScheduler(std::move(options), std::move(run)));
}

ModelScheduler::ModelScheduler(Options options, RunFn run)
    : options_(std::move(options)), run_(std::move(run)), queue_(options_.queue) {
  for (int i = 0; i < options_.instance_count; ++i) {
    threads_.emplace_back([this] { InstanceLoop(); });
    // Thread names show up in top/gdb; Linux limits them to 15 characters.
    pthread_setname_np(threads_.back().native_handle(),
                       absl::StrCat("kiln-inst-", i).substr(0, 15).c_str());
  }
}

ModelScheduler::~ModelScheduler() { Shutdown(); }

int64_t ModelScheduler::Now() const {
  if (options_.now_ns) return options_.now_ns();
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

absl::Status ModelScheduler::Enqueue(std::unique_ptr<InferenceJob> job) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) {
      return absl::UnavailableError(
          absl::StrCat("model ", options_.label, " is being unloaded"));
    }
    job->enqueue_ns = Now();
    PendingRequest info;
    info.batch_size = job->batch_size;
    info.enqueue_ns = job->enqueue_ns;
    if (options_.batching.dynamic) info.shape_signature = BatchShapeSignature(job->inputs);
    const uint64_t priority = job->priority;
    const uint64_t timeout_us = job->timeout_us;
    if (options_.preserve_ordering) job->ticket = sequencer_.Issue();
    const uint64_t ticket = job->ticket;
    absl::Status accepted =
        queue_.Enqueue(std::move(job), info, priority, timeout_us, info.enqueue_ns);
    if (!accepted.ok()) {
      if (options_.preserve_ordering) sequencer_.Complete(ticket, [] {});
      return accepted;
    }
  }
  cv_.notify_one();
  return absl::OkStatus();
}

void ModelScheduler::Shutdown() {
  std::call_once(shutdown_once_, [this] {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stopping_ = true;
    }
    cv_.notify_all();
    for (std::thread& t : threads_) t.join();
  });
}

size_t ModelScheduler::pending() const {
  std::lock_guard<std::mutex> lock(mu_);
  return queue_.size();
}

void ModelScheduler::InstanceLoop() {
  std::vector<PendingRequest> snapshot;
  // While stopping, pending requests go without waiting for batching delays.
  BatchPolicy draining = options_.batching;
  draining.max_queue_delay_ns = 0;
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    const int64_t now = Now();
    std::vector<std::unique_ptr<InferenceJob>> expired = queue_.ExpireTimeouts(now);
    if (!expired.empty()) {
      lock.unlock();
      for (auto& job : expired) {
        JobTimings timings;
        timings.queue_ns = static_cast<uint64_t>(now - job->enqueue_ns);
        Finish(std::move(job), RejectedError("Request timeout expired"), timings);
      }
      lock.lock();
      continue;
    }
    if (queue_.empty()) {
      if (stopping_) return;  // drained: every accepted job has run
      cv_.wait(lock);
      continue;
    }
    queue_.Snapshot(&snapshot);
    const BatchDecision decision = DecideBatch(
        snapshot, now, stopping_ ? draining : options_.batching, queue_.ClosestDeadline());
    if (decision.request_count == 0) {
      if (decision.wake_at_ns < 0) {
        cv_.wait(lock);
      } else {
        cv_.wait_for(lock, std::chrono::nanoseconds(decision.wake_at_ns - now));
      }
      continue;
    }
    std::vector<std::unique_ptr<InferenceJob>> jobs = queue_.PopFront(decision.request_count);
    const bool more = !queue_.empty();
    lock.unlock();
    // Another idle instance may form the next batch meanwhile.
    if (more) cv_.notify_one();
    Execute(std::move(jobs));
    lock.lock();
  }
}

void ModelScheduler::Execute(std::vector<std::unique_ptr<InferenceJob>> jobs) {
  const int64_t start = Now();
  std::vector<int64_t> batch_sizes;
  int64_t total = 0;
  for (const auto& job : jobs) {
    batch_sizes.push_back(job->batch_size);
    total += job->batch_size;
  }
  absl::StatusOr<std::vector<engine::Tensor>> inputs;
  if (jobs.size() == 1) {
    inputs = std::move(jobs.front()->inputs);
  } else {
    std::vector<const std::vector<engine::Tensor>*> parts;
    for (const auto& job : jobs) parts.push_back(&job->inputs);
    inputs = GatherBatch(parts);
  }
  // Release the request buffers before running: the batch holds its copy.
  for (auto& job : jobs) job->inputs.clear();
  const int64_t gathered = Now();
  absl::StatusOr<engine::Outputs> result =
      inputs.ok() ? run_(*inputs) : absl::StatusOr<engine::Outputs>(inputs.status());
  inputs = std::vector<engine::Tensor>();
  const int64_t ran = Now();

  std::vector<absl::StatusOr<engine::Outputs>> per_job;
  if (result.ok() && jobs.size() > 1) {
    auto split = ScatterBatch(*result, batch_sizes);
    if (split.ok()) {
      for (engine::Outputs& part : *split) per_job.emplace_back(std::move(part));
    } else {
      result = split.status();
    }
  }
  if (per_job.empty()) per_job.assign(jobs.size(), result);
  // Recorded before any reply leaves, so a client that reads the statistics
  // after its reply sees its execution counted.
  if (result.ok() && options_.on_execution) {
    ExecutionRecord record;
    record.batch_size = total;
    record.compute_input_ns = static_cast<uint64_t>(gathered - start);
    record.compute_infer_ns = static_cast<uint64_t>(ran - gathered);
    record.compute_output_ns = static_cast<uint64_t>(Now() - ran);
    options_.on_execution(record);
  }
  for (size_t i = 0; i < jobs.size(); ++i) {
    JobTimings timings;
    timings.queue_ns = static_cast<uint64_t>(start - jobs[i]->enqueue_ns);
    timings.compute_input_ns = static_cast<uint64_t>(gathered - start);
    timings.compute_infer_ns = static_cast<uint64_t>(ran - gathered);
    timings.execution_batch_size = total;
    Finish(std::move(jobs[i]), std::move(per_job[i]), timings);
  }
}

void ModelScheduler::Finish(std::unique_ptr<InferenceJob> job,
                            absl::StatusOr<engine::Outputs> result, const JobTimings& timings) {
  if (!options_.preserve_ordering) {
    job->done(std::move(result), timings);
    return;
  }
  const uint64_t ticket = job->ticket;
  // std::function needs a copyable callable: share the job and result.
  auto shared_job = std::shared_ptr<InferenceJob>(std::move(job));
  auto shared_result = std::make_shared<absl::StatusOr<engine::Outputs>>(std::move(result));
  sequencer_.Complete(ticket, [shared_job, shared_result, timings] {
    shared_job->done(std::move(*shared_result), timings);
  });
}

}  // namespace kiln::server

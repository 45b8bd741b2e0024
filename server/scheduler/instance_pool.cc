#include "server/scheduler/instance_pool.h"

#include <pthread.h>

#include "absl/strings/str_cat.h"

namespace kiln::server {

absl::StatusOr<std::unique_ptr<InstancePool>> InstancePool::Create(
    const Options& options, RunFn run) {
  if (options.instance_count < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat(options.label, ": instance count must be at least 1, got ",
                     options.instance_count));
  }
  return std::unique_ptr<InstancePool>(new InstancePool(options, std::move(run)));
}

InstancePool::InstancePool(const Options& options, RunFn run)
    : options_(options), run_(std::move(run)) {
  for (int i = 0; i < options_.instance_count; ++i) {
    threads_.emplace_back([this] { InstanceLoop(); });
    // Thread names show up in top/gdb; Linux limits them to 15 characters.
    pthread_setname_np(threads_.back().native_handle(),
                       absl::StrCat("kiln-inst-", i).substr(0, 15).c_str());
  }
}

InstancePool::~InstancePool() { Shutdown(); }

absl::Status InstancePool::Enqueue(std::unique_ptr<InferenceJob> job) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) {
      return absl::UnavailableError(
          absl::StrCat("model ", options_.label, " is being unloaded"));
    }
    queue_.push_back(std::move(job));
  }
  cv_.notify_one();
  return absl::OkStatus();
}

void InstancePool::Shutdown() {
  std::call_once(shutdown_once_, [this] {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stopping_ = true;
    }
    cv_.notify_all();
    for (std::thread& t : threads_) t.join();
  });
}

size_t InstancePool::pending() const {
  std::lock_guard<std::mutex> lock(mu_);
  return queue_.size();
}

void InstancePool::InstanceLoop() {
  for (;;) {
    std::unique_ptr<InferenceJob> job;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      // Drain before exiting: accepted jobs always complete.
      if (queue_.empty()) return;
      job = std::move(queue_.front());
      queue_.pop_front();
    }
    JobTimings timings;
    const auto start = std::chrono::steady_clock::now();
    timings.queue_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                           start - job->enqueue_time)
                           .count();
    absl::StatusOr<engine::Outputs> result = run_(job->inputs);
    timings.compute_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                             std::chrono::steady_clock::now() - start)
                             .count();
    // Release the inputs before replying so request buffers can go.
    job->inputs.clear();
    job->done(std::move(result), timings);
  }
}

}  // namespace kiln::server

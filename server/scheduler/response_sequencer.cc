#include "server/scheduler/response_sequencer.h"

#include <utility>

namespace kiln::server {

uint64_t ResponseSequencer::Issue() {
  std::lock_guard<std::mutex> lock(mu_);
  return next_ticket_++;
}

void ResponseSequencer::Complete(uint64_t ticket, std::function<void()> completion) {
  std::unique_lock<std::mutex> lock(mu_);
  ready_.emplace(ticket, std::move(completion));
  // One thread at a time drains; the others leave their completion queued.
  if (running_) return;
  running_ = true;
  while (!ready_.empty() && ready_.begin()->first == next_to_run_) {
    std::function<void()> next = std::move(ready_.begin()->second);
    ready_.erase(ready_.begin());
    ++next_to_run_;
    lock.unlock();
    next();
    lock.lock();
  }
  running_ = false;
}

}  // namespace kiln::server

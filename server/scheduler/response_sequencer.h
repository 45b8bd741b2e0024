// Delivers completions in the order their requests were accepted
// (dynamic_batching.preserve_ordering): a completion that is ready before an
// earlier one waits for it. Each ticket must be completed exactly once.
//
// Thread safety: all methods may be called concurrently. Completions run on
// the calling threads, one at a time, in ticket order; a completion may
// itself call Complete (it is queued, not run recursively).
#ifndef KILN_SERVER_SCHEDULER_RESPONSE_SEQUENCER_H_
#define KILN_SERVER_SCHEDULER_RESPONSE_SEQUENCER_H_

#include <cstdint>
#include <functional>
#include <map>
#include <mutex>

#include "absl/base/thread_annotations.h"

namespace kiln::server {

class ResponseSequencer {
 public:
  // The next ticket, in acceptance order.
  uint64_t Issue();

  // Runs `completion` once every earlier ticket's completion has run.
  void Complete(uint64_t ticket, std::function<void()> completion);

 private:
  std::mutex mu_;
  uint64_t next_ticket_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t next_to_run_ ABSL_GUARDED_BY(mu_) = 0;
  bool running_ ABSL_GUARDED_BY(mu_) = false;
  std::map<uint64_t, std::function<void()>> ready_ ABSL_GUARDED_BY(mu_);
};

}  // namespace kiln::server

#endif  // KILN_SERVER_SCHEDULER_RESPONSE_SEQUENCER_H_

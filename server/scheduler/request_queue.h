// A model's queue of requests waiting for an instance, with Triton's priority
// levels and queue policies (PROTOCOL.md): one FIFO per priority level (1 is
// the highest), each with its max_queue_size, default timeout, timeout
// override rule and timeout action. Requests whose deadline passes are
// rejected (REJECT) or moved behind the level's other requests (DELAY).
//
// Time is passed in (ns on any monotonic clock), so tests use a fake clock.
// Thread safety: none; the scheduler holds its lock around every call.
#ifndef KILN_SERVER_SCHEDULER_REQUEST_QUEUE_H_
#define KILN_SERVER_SCHEDULER_REQUEST_QUEUE_H_

#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "proto/model_config.pb.h"
#include "server/scheduler/batch_policy.h"
#include "server/scheduler/rejection.h"

namespace kiln::server {

struct QueuePolicy {
  int64_t default_timeout_ns = 0;  // 0: requests never time out by default
  bool allow_timeout_override = false;
  bool delay_on_timeout = false;  // false: REJECT
  uint32_t max_queue_size = 0;    // 0: unbounded
};

struct QueueOptions {
  // 0: one level, and request priorities are ignored.
  uint64_t priority_levels = 0;
  uint64_t default_priority_level = 0;
  QueuePolicy default_policy;
  std::map<uint64_t, QueuePolicy> level_policies;  // overrides by level
};

// From a validated config's dynamic_batching block (defaults without one).
QueueOptions QueueOptionsFromConfig(const inference::ModelConfig& config);

// The level a request with `priority` goes to: its own when in
// 1..priority_levels, else the default level (Triton's rule).
size_t PriorityIndex(const QueueOptions& options, uint64_t priority);

// The deadline of a request enqueued at `now_ns` asking for `timeout_us`
// (0 = none): the level's default timeout, or the request's when overrides
// are allowed and it is shorter (a request may shorten, never extend, its
// wait). -1 = no deadline.
int64_t RequestDeadline(const QueuePolicy& policy, uint64_t timeout_us, int64_t now_ns);

template <typename T>
class RequestQueue {
 public:
  // Levels are built in place: a deque of move-only items cannot be copied
  // when a vector grows.
  explicit RequestQueue(QueueOptions options)
      : options_(std::move(options)),
        levels_(options_.priority_levels == 0 ? 1 : options_.priority_levels) {
    for (size_t i = 0; i < levels_.size(); ++i) {
      auto it = options_.level_policies.find(i + 1);
      levels_[i].policy =
          it != options_.level_policies.end() ? it->second : options_.default_policy;
    }
  }

  // Unavailable "Exceeds maximum queue size" (a RejectedError) when the
  // request's level is full; the item is then not taken.
  absl::Status Enqueue(T item, const PendingRequest& info, uint64_t priority,
                       uint64_t timeout_us, int64_t now_ns) {
    Level& level = levels_[PriorityIndex(options_, priority)];
    if (level.policy.max_queue_size != 0 &&
        level.on_time.size() + level.delayed.size() >= level.policy.max_queue_size) {
      return RejectedError("Exceeds maximum queue size");
    }
    level.on_time.push_back(
        Entry{std::move(item), info, RequestDeadline(level.policy, timeout_us, now_ns)});
    ++size_;
    return absl::OkStatus();
  }

  // Applies the timeout actions at `now_ns`: returns the requests rejected
  // (REJECT) and moves the delayed ones (DELAY) behind their level's others.
  std::vector<T> ExpireTimeouts(int64_t now_ns) {
    std::vector<T> rejected;
    for (Level& level : levels_) {
      std::deque<Entry> kept;
      for (Entry& entry : level.on_time) {
        if (entry.deadline_ns < 0 || now_ns < entry.deadline_ns) {
          kept.push_back(std::move(entry));
        } else if (level.policy.delay_on_timeout) {
          entry.deadline_ns = -1;
          level.delayed.push_back(std::move(entry));
        } else {
          rejected.push_back(std::move(entry.item));
          --size_;
        }
      }
      level.on_time = std::move(kept);
    }
    return rejected;
  }

  // The earliest deadline of a queued request, -1 when none has one.
  int64_t ClosestDeadline() const {
    int64_t closest = -1;
    for (const Level& level : levels_) {
      for (const Entry& entry : level.on_time) {
        if (entry.deadline_ns >= 0 && (closest < 0 || entry.deadline_ns < closest)) {
          closest = entry.deadline_ns;
        }
      }
    }
    return closest;
  }

  // Every queued request in scheduling order: level 1 first; within a level
  // on-time requests by arrival, then delayed ones. Reuses `out`'s storage.
  void Snapshot(std::vector<PendingRequest>* out) const {
    out->clear();
    ForEachInOrder([out](const Entry& entry) {
      out->push_back(entry.info);
      return true;
    });
  }

  // Removes and returns the first `count` requests in scheduling order.
  std::vector<T> PopFront(size_t count) {
    std::vector<T> taken;
    for (Level& level : levels_) {
      for (std::deque<Entry>* fifo : {&level.on_time, &level.delayed}) {
        while (taken.size() < count && !fifo->empty()) {
          taken.push_back(std::move(fifo->front().item));
          fifo->pop_front();
          --size_;
        }
      }
    }
    return taken;
  }

  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }

 private:
  struct Entry {
    T item;
    PendingRequest info;
    int64_t deadline_ns;  // -1: none
  };
  struct Level {
    QueuePolicy policy;
    std::deque<Entry> on_time;
    std::deque<Entry> delayed;
  };

  template <typename Fn>
  void ForEachInOrder(Fn fn) const {
    for (const Level& level : levels_) {
      for (const std::deque<Entry>* fifo : {&level.on_time, &level.delayed}) {
        for (const Entry& entry : *fifo) {
          if (!fn(entry)) return;
        }
      }
    }
  }

  const QueueOptions options_;
  std::vector<Level> levels_;
  size_t size_ = 0;
};

}  // namespace kiln::server

#endif  // KILN_SERVER_SCHEDULER_REQUEST_QUEUE_H_

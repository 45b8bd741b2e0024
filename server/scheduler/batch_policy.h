// The dynamic batcher's decision "send a batch now?", as a pure function of
// (queue snapshot, now, policy) so every rule is tested with a fake clock.
//
// Semantics are Triton's dynamic batcher (PROTOCOL.md): scan the queued
// requests in scheduling order, summing their batch sizes; stop before
// exceeding max_batch_size or at a request whose shape differs. A preferred
// size reached (and the delay not yet exceeded) sends the requests up to the
// largest preferred size seen; a batch that cannot grow (full, or stopped by
// a shape change or the largest preferred size) is sent; a delay of zero or a
// delay exceeded sends what is pending; otherwise wait for the rest of the
// delay or the nearest request timeout, whichever comes first. Kiln's one
// addition: with plan_batch_sizes set, a batch sent for any reason but a
// preferred size is cut back to the largest plan size it makes exactly.
//
// Thread safety: pure functions.
#ifndef KILN_SERVER_SCHEDULER_BATCH_POLICY_H_
#define KILN_SERVER_SCHEDULER_BATCH_POLICY_H_

#include <cstddef>
#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "proto/model_config.pb.h"

namespace kiln::server {

struct BatchPolicy {
  // False: every request runs alone, as soon as an instance is free.
  bool dynamic = false;
  int64_t max_batch_size = 0;
  // Sorted, unique, each in 1..max_batch_size. Empty: only a full batch (or
  // the delay) sends.
  std::vector<int64_t> preferred_batch_sizes;
  int64_t max_queue_delay_ns = 0;
  // The batch sizes the engine has plans for (its batch buckets), sorted;
  // empty: any size. A batch sent because of the delay, a full queue or a
  // shape change stops at the largest of these sizes it can make exactly,
  // and the requests after it wait for the next batch: a batch between two
  // plan sizes would otherwise be zero-padded up to the next one, computing
  // rows nobody asked for (up to a third of the batch).
  std::vector<int64_t> plan_batch_sizes;
};

// The policy a validated model config asks for. A model without
// `dynamic_batching` (or with max_batch_size 0) runs each request alone.
BatchPolicy BatchPolicyFromConfig(const inference::ModelConfig& config);

// The batch sizes the engine builds plans for when a batching model does not
// choose its own (KILN_BATCH_BUCKETS): 1, 2, 3, 4, 6, 8, 12, 16, 24, ... up
// to and including max_batch_size. A batch is zero-padded up to the next
// one, so at most a third of a batch is padding while the plan count grows
// with log(max_batch_size), not with every size the batcher forms. Padding
// is safe where batching is: the rows of a batched model are independent.
std::vector<int64_t> DefaultBatchBuckets(int64_t max_batch_size);

// What the scheduler knows of one queued request.
struct PendingRequest {
  int64_t batch_size = 1;
  // Equal for requests that may share a batch (same dtypes and non-batch
  // dims of every input).
  uint64_t shape_signature = 0;
  int64_t enqueue_ns = 0;
};

struct BatchDecision {
  // > 0: send the first `request_count` requests of the snapshot now, as one
  // batch of `batch_size` items.
  size_t request_count = 0;
  int64_t batch_size = 0;
  // When request_count == 0 and the queue is not empty: decide again at this
  // time (or when a request arrives). -1: only an arrival can change things.
  int64_t wake_at_ns = -1;
};

// `queue` is in scheduling order (priority, then arrival). `closest_timeout_ns`
// is the earliest request deadline in the queue, or -1 for none.
BatchDecision DecideBatch(const std::vector<PendingRequest>& queue,
                          int64_t now_ns, const BatchPolicy& policy,
                          int64_t closest_timeout_ns = -1);

}  // namespace kiln::server

#endif  // KILN_SERVER_SCHEDULER_BATCH_POLICY_H_

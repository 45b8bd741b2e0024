#include "server/scheduler/batch_policy.h"

#include <algorithm>
#include <limits>

namespace kiln::server {

BatchPolicy BatchPolicyFromConfig(const inference::ModelConfig& config) {
  BatchPolicy policy;
  policy.max_batch_size = config.max_batch_size();
  if (!config.has_dynamic_batching() || config.max_batch_size() <= 0) return policy;
  const inference::ModelDynamicBatching& batching = config.dynamic_batching();
  policy.dynamic = true;
  for (int32_t size : batching.preferred_batch_size()) {
    policy.preferred_batch_sizes.push_back(size);
  }
  std::sort(policy.preferred_batch_sizes.begin(), policy.preferred_batch_sizes.end());
  policy.preferred_batch_sizes.erase(
      std::unique(policy.preferred_batch_sizes.begin(), policy.preferred_batch_sizes.end()),
      policy.preferred_batch_sizes.end());
  policy.max_queue_delay_ns =
      static_cast<int64_t>(batching.max_queue_delay_microseconds()) * 1000;
  return policy;
}

std::vector<int64_t> DefaultBatchBuckets(int64_t max_batch_size) {
  std::vector<int64_t> buckets;
  for (int64_t power = 1; power < max_batch_size; power *= 2) {
    buckets.push_back(power);
    // The midpoint between this power and the next one.
    if (power >= 2 && power + power / 2 < max_batch_size) buckets.push_back(power + power / 2);
  }
  if (max_batch_size >= 1) buckets.push_back(max_batch_size);
  return buckets;
}

namespace {

// The longest prefix of the first `count` requests whose items add up to a
// plan batch size; `count` itself when there are no plan sizes or no prefix
// fits one (a request is never split).
size_t CutToPlanSize(const std::vector<PendingRequest>& queue, size_t count,
                     const std::vector<int64_t>& plan_sizes, int64_t* batch_size) {
  if (plan_sizes.empty()) return count;
  int64_t total = 0;
  size_t best = 0;
  int64_t best_total = 0;
  for (size_t i = 0; i < count; ++i) {
    total += queue[i].batch_size;
    if (std::binary_search(plan_sizes.begin(), plan_sizes.end(), total)) {
      best = i + 1;
      best_total = total;
    }
  }
  if (best == 0) return count;
  *batch_size = best_total;
  return best;
}

}  // namespace

BatchDecision DecideBatch(const std::vector<PendingRequest>& queue, int64_t now_ns,
                          const BatchPolicy& policy, int64_t closest_timeout_ns) {
  BatchDecision decision;
  if (queue.empty()) return decision;
  if (!policy.dynamic) {
    decision.request_count = 1;
    decision.batch_size = queue.front().batch_size;
    return decision;
  }
  const int64_t max_preferred = policy.preferred_batch_sizes.empty()
                                    ? policy.max_batch_size
                                    : policy.preferred_batch_sizes.back();
  auto is_preferred = [&](int64_t size) {
    return std::binary_search(policy.preferred_batch_sizes.begin(),
                              policy.preferred_batch_sizes.end(), size);
  };

  size_t count = 0;
  int64_t pending = 0;
  size_t best_count = 0;
  int64_t best_size = 0;
  bool cannot_grow = false;
  int64_t oldest_ns = std::numeric_limits<int64_t>::max();
  for (const PendingRequest& request : queue) {
    if (count > 0) {
      // Growing past every preferred size: the batch so far is the best one
      // unless a preferred size was already reached.
      if (pending + request.batch_size > max_preferred && best_count == 0) {
        best_count = count;
        best_size = pending;
      }
      if (pending + request.batch_size > policy.max_batch_size ||
          request.shape_signature != queue.front().shape_signature) {
        cannot_grow = true;
        break;
      }
    }
    pending += request.batch_size;
    ++count;
    oldest_ns = std::min(oldest_ns, request.enqueue_ns);
    if (is_preferred(pending)) {
      best_count = count;
      best_size = pending;
    }
  }

  const int64_t delay_ns = now_ns - oldest_ns;
  const bool delay_exceeded =
      policy.max_queue_delay_ns != 0 && delay_ns >= policy.max_queue_delay_ns;
  if (best_count > 0 && !delay_exceeded) {
    decision.request_count = best_count;
    decision.batch_size = best_size;
    return decision;
  }
  if (cannot_grow || pending >= max_preferred || delay_exceeded ||
      policy.max_queue_delay_ns == 0) {
    decision.batch_size = pending;
    decision.request_count =
        CutToPlanSize(queue, count, policy.plan_batch_sizes, &decision.batch_size);
    return decision;
  }
  decision.wake_at_ns = oldest_ns + policy.max_queue_delay_ns;
  if (closest_timeout_ns >= 0) {
    decision.wake_at_ns = std::min(decision.wake_at_ns, std::max(closest_timeout_ns, now_ns));
  }
  return decision;
}

}  // namespace kiln::server

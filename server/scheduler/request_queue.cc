#include "server/scheduler/request_queue.h"

namespace kiln::server {
namespace {

QueuePolicy PolicyFromConfig(const inference::ModelQueuePolicy& config) {
  QueuePolicy policy;
  policy.default_timeout_ns = static_cast<int64_t>(config.default_timeout_microseconds()) * 1000;
  policy.allow_timeout_override = config.allow_timeout_override();
  policy.delay_on_timeout = config.timeout_action() == inference::ModelQueuePolicy::DELAY;
  policy.max_queue_size = config.max_queue_size();
  return policy;
}

}  // namespace

QueueOptions QueueOptionsFromConfig(const inference::ModelConfig& config) {
  QueueOptions options;
  if (!config.has_dynamic_batching()) return options;
  const inference::ModelDynamicBatching& batching = config.dynamic_batching();
  options.priority_levels = batching.priority_levels();
  options.default_priority_level = batching.default_priority_level();
  options.default_policy = PolicyFromConfig(batching.default_queue_policy());
  for (const auto& [level, policy] : batching.priority_queue_policy()) {
    options.level_policies[level] = PolicyFromConfig(policy);
  }
  return options;
}

size_t PriorityIndex(const QueueOptions& options, uint64_t priority) {
  if (options.priority_levels == 0) return 0;
  const uint64_t level = (priority >= 1 && priority <= options.priority_levels)
                             ? priority
                             : options.default_priority_level;
  // A validated config has the default level in range; clamp regardless.
  if (level < 1) return 0;
  if (level > options.priority_levels) return options.priority_levels - 1;
  return level - 1;
}

int64_t RequestDeadline(const QueuePolicy& policy, uint64_t timeout_us, int64_t now_ns) {
  int64_t timeout_ns = policy.default_timeout_ns;
  const int64_t requested_ns = static_cast<int64_t>(timeout_us) * 1000;
  if (policy.allow_timeout_override && requested_ns > 0 &&
      (timeout_ns == 0 || requested_ns < timeout_ns)) {
    timeout_ns = requested_ns;
  }
  return timeout_ns == 0 ? -1 : now_ns + timeout_ns;
}

}  // namespace kiln::server

#include "server/scheduler/request_queue.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace kiln::server {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr int64_t kUs = 1000;

PendingRequest Info(int64_t enqueue_ns, int64_t batch = 1) { return {batch, 0, enqueue_ns}; }

std::vector<int> Drain(RequestQueue<int>& queue) {
  return queue.PopFront(queue.size());
}

QueueOptions TwoLevels() {
  QueueOptions options;
  options.priority_levels = 2;
  options.default_priority_level = 2;
  return options;
}

TEST(RequestQueueTest, OneLevelIsFirstInFirstOut) {
  RequestQueue<int> queue(QueueOptions{});
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(queue.Enqueue(i, Info(i), 0, 0, i).ok());
  EXPECT_EQ(queue.size(), 3u);
  EXPECT_THAT(Drain(queue), ElementsAre(0, 1, 2));
  EXPECT_TRUE(queue.empty());
}

TEST(RequestQueueTest, HigherPriorityLevelsGoFirst) {
  RequestQueue<int> queue(TwoLevels());
  ASSERT_TRUE(queue.Enqueue(20, Info(0), 2, 0, 0).ok());
  ASSERT_TRUE(queue.Enqueue(10, Info(1), 1, 0, 1).ok());
  ASSERT_TRUE(queue.Enqueue(21, Info(2), 2, 0, 2).ok());
  ASSERT_TRUE(queue.Enqueue(11, Info(3), 1, 0, 3).ok());
  std::vector<PendingRequest> snapshot;
  queue.Snapshot(&snapshot);
  ASSERT_EQ(snapshot.size(), 4u);
  EXPECT_EQ(snapshot[0].enqueue_ns, 1);
  EXPECT_EQ(snapshot[1].enqueue_ns, 3);
  EXPECT_THAT(Drain(queue), ElementsAre(10, 11, 20, 21));
}

TEST(RequestQueueTest, PriorityZeroOrOutOfRangeUsesTheDefaultLevel) {
  const QueueOptions options = TwoLevels();
  EXPECT_EQ(PriorityIndex(options, 0), 1u);
  EXPECT_EQ(PriorityIndex(options, 3), 1u);
  EXPECT_EQ(PriorityIndex(options, 1), 0u);
  RequestQueue<int> queue(options);
  ASSERT_TRUE(queue.Enqueue(2, Info(0), 0, 0, 0).ok());
  ASSERT_TRUE(queue.Enqueue(1, Info(1), 1, 0, 1).ok());
  EXPECT_THAT(Drain(queue), ElementsAre(1, 2));
  // Without priority levels every request shares one level.
  EXPECT_EQ(PriorityIndex(QueueOptions{}, 5), 0u);
}

TEST(RequestQueueTest, FullLevelRejectsWithTritonsMessage) {
  QueueOptions options = TwoLevels();
  options.default_policy.max_queue_size = 2;
  options.level_policies[1].max_queue_size = 1;
  RequestQueue<int> queue(options);
  ASSERT_TRUE(queue.Enqueue(1, Info(0), 1, 0, 0).ok());
  const absl::Status full = queue.Enqueue(2, Info(0), 1, 0, 0);
  EXPECT_EQ(full.code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(std::string(full.message()), HasSubstr("Exceeds maximum queue size"));
  // The other level has its own limit.
  ASSERT_TRUE(queue.Enqueue(3, Info(0), 2, 0, 0).ok());
  ASSERT_TRUE(queue.Enqueue(4, Info(0), 2, 0, 0).ok());
  EXPECT_FALSE(queue.Enqueue(5, Info(0), 2, 0, 0).ok());
  EXPECT_EQ(queue.size(), 3u);
  // Taking requests out makes room again.
  EXPECT_THAT(queue.PopFront(1), ElementsAre(1));
  EXPECT_TRUE(queue.Enqueue(6, Info(0), 1, 0, 0).ok());
}

TEST(RequestQueueTest, RejectTimeoutRemovesExpiredRequests) {
  QueueOptions options;
  options.default_policy.default_timeout_ns = 100 * kUs;
  RequestQueue<int> queue(options);
  ASSERT_TRUE(queue.Enqueue(1, Info(0), 0, 0, 0).ok());
  ASSERT_TRUE(queue.Enqueue(2, Info(50 * kUs), 0, 0, 50 * kUs).ok());
  EXPECT_EQ(queue.ClosestDeadline(), 100 * kUs);
  EXPECT_TRUE(queue.ExpireTimeouts(99 * kUs).empty());
  EXPECT_THAT(queue.ExpireTimeouts(100 * kUs), ElementsAre(1));
  EXPECT_EQ(queue.size(), 1u);
  EXPECT_EQ(queue.ClosestDeadline(), 150 * kUs);
  EXPECT_THAT(queue.ExpireTimeouts(1000 * kUs), ElementsAre(2));
  EXPECT_TRUE(queue.empty());
  EXPECT_EQ(queue.ClosestDeadline(), -1);
}

TEST(RequestQueueTest, DelayTimeoutMovesRequestsBehindTheirLevel) {
  QueueOptions options;
  options.default_policy.default_timeout_ns = 100 * kUs;
  options.default_policy.delay_on_timeout = true;
  RequestQueue<int> queue(options);
  ASSERT_TRUE(queue.Enqueue(1, Info(0), 0, 0, 0).ok());
  ASSERT_TRUE(queue.Enqueue(2, Info(80 * kUs), 0, 0, 80 * kUs).ok());
  EXPECT_TRUE(queue.ExpireTimeouts(120 * kUs).empty());  // nobody is rejected
  ASSERT_TRUE(queue.Enqueue(3, Info(120 * kUs), 0, 0, 120 * kUs).ok());
  std::vector<PendingRequest> snapshot;
  queue.Snapshot(&snapshot);
  EXPECT_EQ(snapshot.back().enqueue_ns, 0);  // request 1 now comes last
  EXPECT_EQ(queue.ClosestDeadline(), 180 * kUs);  // a delayed request has no deadline
  EXPECT_THAT(Drain(queue), ElementsAre(2, 3, 1));
}

TEST(RequestQueueTest, DelayedRequestsStillPrecedeLowerLevels) {
  QueueOptions options = TwoLevels();
  options.level_policies[1].default_timeout_ns = 10 * kUs;
  options.level_policies[1].delay_on_timeout = true;
  RequestQueue<int> queue(options);
  ASSERT_TRUE(queue.Enqueue(1, Info(0), 1, 0, 0).ok());
  ASSERT_TRUE(queue.Enqueue(2, Info(0), 2, 0, 0).ok());
  EXPECT_TRUE(queue.ExpireTimeouts(20 * kUs).empty());
  EXPECT_THAT(Drain(queue), ElementsAre(1, 2));
}

TEST(RequestQueueTest, RequestTimeoutMayShortenButNotExtendTheDefault) {
  QueuePolicy policy;
  policy.default_timeout_ns = 100 * kUs;
  EXPECT_EQ(RequestDeadline(policy, 10, 0), 100 * kUs);  // override not allowed
  policy.allow_timeout_override = true;
  EXPECT_EQ(RequestDeadline(policy, 10, 5), 5 + 10 * kUs);
  EXPECT_EQ(RequestDeadline(policy, 500, 0), 100 * kUs);
  EXPECT_EQ(RequestDeadline(policy, 0, 0), 100 * kUs);
  policy.default_timeout_ns = 0;  // no default: any request timeout applies
  EXPECT_EQ(RequestDeadline(policy, 500, 0), 500 * kUs);
  EXPECT_EQ(RequestDeadline(policy, 0, 0), -1);
}

TEST(RequestQueueTest, OptionsFromConfig) {
  inference::ModelConfig config;
  config.set_max_batch_size(8);
  auto* batching = config.mutable_dynamic_batching();
  batching->set_priority_levels(3);
  batching->set_default_priority_level(2);
  batching->mutable_default_queue_policy()->set_max_queue_size(7);
  batching->mutable_default_queue_policy()->set_default_timeout_microseconds(40);
  inference::ModelQueuePolicy level_one;
  level_one.set_timeout_action(inference::ModelQueuePolicy::DELAY);
  level_one.set_allow_timeout_override(true);
  (*batching->mutable_priority_queue_policy())[1] = level_one;
  const QueueOptions options = QueueOptionsFromConfig(config);
  EXPECT_EQ(options.priority_levels, 3u);
  EXPECT_EQ(options.default_priority_level, 2u);
  EXPECT_EQ(options.default_policy.max_queue_size, 7u);
  EXPECT_EQ(options.default_policy.default_timeout_ns, 40 * kUs);
  EXPECT_FALSE(options.default_policy.delay_on_timeout);
  ASSERT_EQ(options.level_policies.count(1), 1u);
  EXPECT_TRUE(options.level_policies.at(1).delay_on_timeout);
  EXPECT_TRUE(options.level_policies.at(1).allow_timeout_override);
}

}  // namespace
}  // namespace kiln::server

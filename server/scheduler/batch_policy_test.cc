#include "server/scheduler/batch_policy.h"

#include <vector>

#include "gtest/gtest.h"

namespace kiln::server {
namespace {

constexpr int64_t kUs = 1000;

BatchPolicy Dynamic(int64_t max_batch, std::vector<int64_t> preferred, int64_t delay_us) {
  BatchPolicy policy;
  policy.dynamic = true;
  policy.max_batch_size = max_batch;
  policy.preferred_batch_sizes = std::move(preferred);
  policy.max_queue_delay_ns = delay_us * kUs;
  return policy;
}

// `sizes[i]` items enqueued at `i` microseconds, all the same shape.
std::vector<PendingRequest> Queue(std::vector<int64_t> sizes) {
  std::vector<PendingRequest> queue;
  for (size_t i = 0; i < sizes.size(); ++i) {
    queue.push_back({sizes[i], 7, static_cast<int64_t>(i) * kUs});
  }
  return queue;
}

TEST(BatchPolicyTest, EmptyQueueWaitsForArrivals) {
  const BatchDecision d = DecideBatch({}, 0, Dynamic(8, {}, 100));
  EXPECT_EQ(d.request_count, 0u);
  EXPECT_EQ(d.wake_at_ns, -1);
}

TEST(BatchPolicyTest, WithoutDynamicBatchingEachRequestRunsAlone) {
  BatchPolicy policy;
  policy.max_batch_size = 8;
  const BatchDecision d = DecideBatch(Queue({2, 1, 1}), 0, policy);
  EXPECT_EQ(d.request_count, 1u);
  EXPECT_EQ(d.batch_size, 2);
}

TEST(BatchPolicyTest, ZeroDelaySendsWhatIsPending) {
  const BatchDecision d = DecideBatch(Queue({1, 1, 1}), 3 * kUs, Dynamic(8, {}, 0));
  EXPECT_EQ(d.request_count, 3u);
  EXPECT_EQ(d.batch_size, 3);
}

TEST(BatchPolicyTest, WaitsForTheRestOfTheDelayThenSends) {
  const BatchPolicy policy = Dynamic(8, {}, 100);
  const auto queue = Queue({1, 1});  // oldest enqueued at t=0
  BatchDecision d = DecideBatch(queue, 40 * kUs, policy);
  EXPECT_EQ(d.request_count, 0u);
  EXPECT_EQ(d.wake_at_ns, 100 * kUs);
  d = DecideBatch(queue, 99 * kUs, policy);
  EXPECT_EQ(d.request_count, 0u);
  d = DecideBatch(queue, 100 * kUs, policy);
  EXPECT_EQ(d.request_count, 2u);
  EXPECT_EQ(d.batch_size, 2);
}

TEST(BatchPolicyTest, PreferredSizeSendsAtOnceWithExactlyThatSize) {
  const BatchDecision d = DecideBatch(Queue({1, 1, 1, 1, 1}), 5 * kUs, Dynamic(8, {4}, 1000));
  EXPECT_EQ(d.request_count, 4u);
  EXPECT_EQ(d.batch_size, 4);
}

TEST(BatchPolicyTest, LargestPreferredSizeReachedWins) {
  const BatchDecision d = DecideBatch(Queue({1, 1, 1, 1, 1}), 5 * kUs, Dynamic(8, {2, 4}, 1000));
  EXPECT_EQ(d.batch_size, 4);
  EXPECT_EQ(d.request_count, 4u);
}

TEST(BatchPolicyTest, PreferredSizeNotReachedWaits) {
  const BatchDecision d = DecideBatch(Queue({1, 1, 1}), 5 * kUs, Dynamic(8, {4}, 1000));
  EXPECT_EQ(d.request_count, 0u);
  EXPECT_EQ(d.wake_at_ns, 1000 * kUs);
}

TEST(BatchPolicyTest, DelayExceededSendsEverythingPendingEvenPastAPreferredSize) {
  const BatchDecision d =
      DecideBatch(Queue({1, 1, 1, 1, 1}), 2000 * kUs, Dynamic(8, {4}, 1000));
  EXPECT_EQ(d.request_count, 5u);
  EXPECT_EQ(d.batch_size, 5);
}

TEST(BatchPolicyTest, FullBatchSendsWithoutWaitingAndNeverExceedsTheMax) {
  // 3 + 3 fits in 8, the third request would make 9.
  const BatchDecision d = DecideBatch(Queue({3, 3, 3}), 3 * kUs, Dynamic(8, {}, 1000));
  EXPECT_EQ(d.request_count, 2u);
  EXPECT_EQ(d.batch_size, 6);
}

TEST(BatchPolicyTest, ExactlyFullBatchSends) {
  const BatchDecision d = DecideBatch(Queue({4, 4}), 2 * kUs, Dynamic(8, {}, 1000));
  EXPECT_EQ(d.request_count, 2u);
  EXPECT_EQ(d.batch_size, 8);
}

TEST(BatchPolicyTest, RequestsCountByTheirBatchSize) {
  // One request of 4 items reaches preferred size 4 on its own.
  const BatchDecision d = DecideBatch(Queue({4, 1}), 2 * kUs, Dynamic(8, {4}, 1000));
  EXPECT_EQ(d.request_count, 1u);
  EXPECT_EQ(d.batch_size, 4);
}

TEST(BatchPolicyTest, ADifferentShapeEndsTheBatch) {
  auto queue = Queue({1, 1, 1});
  queue[2].shape_signature = 8;
  const BatchDecision d = DecideBatch(queue, 3 * kUs, Dynamic(8, {}, 1000));
  EXPECT_EQ(d.request_count, 2u);
  EXPECT_EQ(d.batch_size, 2);
}

TEST(BatchPolicyTest, AShapeChangeAtTheHeadSendsTheHeadAlone) {
  auto queue = Queue({1, 1});
  queue[1].shape_signature = 8;
  const BatchDecision d = DecideBatch(queue, 2 * kUs, Dynamic(8, {}, 1000));
  EXPECT_EQ(d.request_count, 1u);
}

TEST(BatchPolicyTest, GrowingPastTheLargestPreferredSizeSendsTheBatchSoFar) {
  // preferred [2]: 1 item pending, the next request brings 3 more.
  const BatchDecision d = DecideBatch(Queue({1, 3}), 2 * kUs, Dynamic(8, {2}, 1000));
  EXPECT_EQ(d.request_count, 1u);
  EXPECT_EQ(d.batch_size, 1);
}

TEST(BatchPolicyTest, ARequestDeadlineBeforeTheDelayShortensTheWait) {
  const BatchPolicy policy = Dynamic(8, {}, 1000);
  BatchDecision d = DecideBatch(Queue({1}), 10 * kUs, policy, 300 * kUs);
  EXPECT_EQ(d.wake_at_ns, 300 * kUs);
  // A deadline already past wakes at once, to apply the timeout.
  d = DecideBatch(Queue({1}), 10 * kUs, policy, 5 * kUs);
  EXPECT_EQ(d.wake_at_ns, 10 * kUs);
  // A later deadline does not extend the delay.
  d = DecideBatch(Queue({1}), 10 * kUs, policy, 5000 * kUs);
  EXPECT_EQ(d.wake_at_ns, 1000 * kUs);
}

TEST(BatchPolicyTest, PlanSizesCutABatchBackToTheLargestSizeItMakesExactly) {
  BatchPolicy policy = Dynamic(16, {}, 100);
  policy.plan_batch_sizes = {1, 2, 3, 4, 6, 8};
  // Delay exceeded with 5 single-item requests: 4 go now, 1 waits.
  BatchDecision d = DecideBatch(Queue({1, 1, 1, 1, 1}), 1000 * kUs, policy);
  EXPECT_EQ(d.request_count, 4u);
  EXPECT_EQ(d.batch_size, 4);
  // Items count, and a request is never split: 2 + 3 = 5 is no plan size,
  // 2 is.
  d = DecideBatch(Queue({2, 3}), 1000 * kUs, policy);
  EXPECT_EQ(d.request_count, 1u);
  EXPECT_EQ(d.batch_size, 2);
  // No prefix makes a plan size: sent as is (the engine pads it).
  d = DecideBatch(Queue({5}), 1000 * kUs, policy);
  EXPECT_EQ(d.request_count, 1u);
  EXPECT_EQ(d.batch_size, 5);
  // A preferred size the user chose is never cut.
  policy.preferred_batch_sizes = {5};
  d = DecideBatch(Queue({1, 1, 1, 1, 1}), 10 * kUs, policy);
  EXPECT_EQ(d.batch_size, 5);
}

TEST(BatchPolicyTest, DefaultBucketsGrowByAtMostAHalf) {
  EXPECT_EQ(DefaultBatchBuckets(1), (std::vector<int64_t>{1}));
  EXPECT_EQ(DefaultBatchBuckets(8), (std::vector<int64_t>{1, 2, 3, 4, 6, 8}));
  EXPECT_EQ(DefaultBatchBuckets(32),
            (std::vector<int64_t>{1, 2, 3, 4, 6, 8, 12, 16, 24, 32}));
  EXPECT_EQ(DefaultBatchBuckets(20), (std::vector<int64_t>{1, 2, 3, 4, 6, 8, 12, 16, 20}));
  const std::vector<int64_t> buckets = DefaultBatchBuckets(64);
  for (size_t i = 2; i < buckets.size(); ++i) {
    EXPECT_LE(buckets[i] * 2, buckets[i - 1] * 3) << buckets[i];
  }
  EXPECT_EQ(buckets.back(), 64);
  EXPECT_LE(buckets.size(), 12u);
}

TEST(BatchPolicyTest, PolicyFromConfig) {
  inference::ModelConfig config;
  config.set_max_batch_size(16);
  EXPECT_FALSE(BatchPolicyFromConfig(config).dynamic);
  auto* batching = config.mutable_dynamic_batching();
  batching->add_preferred_batch_size(8);
  batching->add_preferred_batch_size(4);
  batching->add_preferred_batch_size(8);
  batching->set_max_queue_delay_microseconds(250);
  const BatchPolicy policy = BatchPolicyFromConfig(config);
  EXPECT_TRUE(policy.dynamic);
  EXPECT_EQ(policy.max_batch_size, 16);
  EXPECT_EQ(policy.preferred_batch_sizes, (std::vector<int64_t>{4, 8}));
  EXPECT_EQ(policy.max_queue_delay_ns, 250 * kUs);
  config.set_max_batch_size(0);
  EXPECT_FALSE(BatchPolicyFromConfig(config).dynamic);
}

}  // namespace
}  // namespace kiln::server

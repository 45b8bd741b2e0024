#include "server/repository/model_stats.h"

#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace kiln::server {
namespace {

using ::testing::ElementsAre;
using ::testing::Pair;
using ::testing::_;

std::unique_ptr<ModelStats> WithHistograms(int64_t max_batch_size) {
  ModelStats::Options options;
  options.max_batch_size = max_batch_size;
  options.histograms = true;
  options.latency_buckets_seconds = {0.001, 0.01, 0.1};
  auto stats = ModelStats::Create(options);
  EXPECT_TRUE(stats.ok()) << stats.status();
  return stats.ok() ? *std::move(stats) : nullptr;
}

TEST(ModelStatsTest, CountsWithTritonsSemantics) {
  auto stats = WithHistograms(8);
  RequestTimings t{5'000'000, 1'000, 2'000, 3'000'000, 4'000};
  stats->RecordSuccess(3, t, 111);
  stats->RecordSuccess(1, t, 222);
  stats->RecordExecution(4, 10, 20, 30);
  stats->RecordFailure(FailureReason::kBackend, 700, 333);
  stats->RecordFailure(FailureReason::kRejected, 300, 333);
  const ModelStatsSnapshot s = stats->Snapshot();
  EXPECT_EQ(s.last_inference_ms, 333u);
  EXPECT_EQ(s.inference_count, 4u);
  EXPECT_EQ(s.execution_count, 1u);
  EXPECT_EQ(s.success.count, 2u);
  EXPECT_EQ(s.success.ns, 10'000'000u);
  EXPECT_EQ(s.queue.ns, 2'000u);
  EXPECT_EQ(s.compute_infer.ns, 6'000'000u);
  EXPECT_EQ(s.fail.count, 2u);
  EXPECT_EQ(s.fail.ns, 1'000u);
  EXPECT_THAT(s.fail_by_reason, ElementsAre(1, 0, 1, 0));
  ASSERT_EQ(s.batch_stats.size(), 1u);
  EXPECT_EQ(s.batch_stats.at(4).compute_infer.count, 1u);
  EXPECT_EQ(s.batch_stats.at(4).compute_output.ns, 30u);
  EXPECT_EQ(stats->request_duration()->Read().count, 2u);
  EXPECT_THAT(stats->compute_infer_duration()->Read().cumulative, ElementsAre(0, 2, 2, 2));
  EXPECT_THAT(stats->batch_size()->Read().cumulative,
              ElementsAre(0, 0, 1, 1, 1, 1, 1, 1, 1));  // le=4
  EXPECT_EQ(FailureReasonName(FailureReason::kRejected), std::string("REJECTED"));
  EXPECT_EQ(FailureReasonName(FailureReason::kCanceled), std::string("CANCELED"));
  EXPECT_EQ(FailureReasonName(FailureReason::kBackend), std::string("BACKEND"));
  EXPECT_EQ(FailureReasonName(FailureReason::kOther), std::string("OTHER"));
}

TEST(ModelStatsTest, HistogramsOffByDefaultAndBadBucketsRefused) {
  ModelStats plain;
  plain.RecordSuccess(1, {}, 1);
  plain.RecordPlanBuild(5);
  EXPECT_EQ(plain.request_duration(), nullptr);
  EXPECT_EQ(plain.plan_compile_duration(), nullptr);
  EXPECT_EQ(plain.Snapshot().success.count, 1u);
  ModelStats::Options bad;
  bad.histograms = true;
  bad.latency_buckets_seconds = {0.1, 0.01};
  EXPECT_FALSE(ModelStats::Create(bad).ok());
}

TEST(ModelStatsTest, ExecutionsBeyondTheSlotsAreStillCounted) {
  auto stats = WithHistograms(2);
  stats->RecordExecution(2, 1, 1, 1);
  stats->RecordExecution(300, 1, 2, 3);
  stats->RecordExecution(300, 1, 2, 3);
  const ModelStatsSnapshot s = stats->Snapshot();
  EXPECT_THAT(s.batch_stats, ElementsAre(Pair(2, _), Pair(300, _)));
  EXPECT_EQ(s.batch_stats.at(300).compute_infer.count, 2u);
  EXPECT_EQ(s.batch_stats.at(300).compute_infer.ns, 4u);
  EXPECT_EQ(stats->batch_size()->Read().count, 3u);
}

// N threads x M updates of every kind: exact totals, no lock on the way.
TEST(ModelStatsTest, ConcurrentUpdatesAddUpExactly) {
  auto stats = WithHistograms(8);
  constexpr int kThreads = 8;
  constexpr int kUpdates = 20'000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kUpdates; ++i) {
        RequestTimings timings{2'000'000, 1'000, 10, 500'000, 20};
        stats->RecordSuccess(2, timings, 1);
        stats->RecordExecution(1 + (i + t) % 8, 1, 3, 5);
        stats->RecordFailure(static_cast<FailureReason>(i % kFailureReasonCount), 7, 1);
        stats->RecordPlanBuild(1'000'000);
      }
    });
  }
  for (auto& t : threads) t.join();
  constexpr uint64_t kTotal = static_cast<uint64_t>(kThreads) * kUpdates;
  const ModelStatsSnapshot s = stats->Snapshot();
  EXPECT_EQ(s.success.count, kTotal);
  EXPECT_EQ(s.success.ns, kTotal * 2'000'000);
  EXPECT_EQ(s.queue.ns, kTotal * 1'000);
  EXPECT_EQ(s.compute_infer.ns, kTotal * 500'000);
  EXPECT_EQ(s.inference_count, 2 * kTotal);
  EXPECT_EQ(s.execution_count, kTotal);
  EXPECT_EQ(s.fail.count, kTotal);
  EXPECT_EQ(s.fail.ns, 7 * kTotal);
  for (uint64_t by_reason : s.fail_by_reason) EXPECT_EQ(by_reason, kTotal / 4);
  uint64_t executions = 0;
  for (const auto& [size, batch] : s.batch_stats) {
    EXPECT_EQ(batch.compute_infer.count, kTotal / 8) << size;
    EXPECT_EQ(batch.compute_output.ns, 5 * (kTotal / 8)) << size;
    executions += batch.compute_infer.count;
  }
  EXPECT_EQ(executions, kTotal);
  const metrics::HistogramSnapshot request = stats->request_duration()->Read();
  EXPECT_EQ(request.count, kTotal);
  EXPECT_THAT(request.cumulative, ElementsAre(0, kTotal, kTotal, kTotal));  // 2 ms
  EXPECT_DOUBLE_EQ(request.sum, kTotal * 0.002);
  EXPECT_EQ(stats->queue_duration()->Read().cumulative[0], kTotal);  // 1 us
  EXPECT_EQ(stats->batch_size()->Read().count, kTotal);
  EXPECT_EQ(stats->plan_compile_duration()->Read().count, kTotal);
}

}  // namespace
}  // namespace kiln::server

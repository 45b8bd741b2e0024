#include "server/metrics/histogram.h"

#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace kiln::server::metrics {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

TEST(HistogramTest, BadBoundsAreRefused) {
  EXPECT_FALSE(Histogram::Create({}, 1).ok());
  EXPECT_FALSE(Histogram::Create({1, 1}, 1).ok());
  EXPECT_FALSE(Histogram::Create({2, 1}, 1).ok());
  EXPECT_FALSE(Histogram::Create({-1, 1}, 1).ok());
  EXPECT_FALSE(Histogram::Create({0, 1}, 1).ok());
  EXPECT_FALSE(Histogram::Create({1, std::numeric_limits<double>::infinity()}, 1).ok());
  EXPECT_FALSE(Histogram::Create({1, 2}, 0).ok());
  // Distinct in seconds, the same nanosecond.
  auto same_ns = Histogram::Create({1e-10, 2e-10}, 1e9);
  ASSERT_FALSE(same_ns.ok());
  EXPECT_THAT(std::string(same_ns.status().message()), HasSubstr("resolution"));
}

TEST(HistogramTest, BucketsAreCumulativeWithInclusiveBoundsAndInf) {
  auto h = Histogram::Create({1, 2, 4}, 1);
  ASSERT_TRUE(h.ok()) << h.status();
  for (uint64_t v : {0, 1, 1, 2, 3, 4, 5, 100}) (*h)->Observe(v);
  const HistogramSnapshot s = (*h)->Read();
  EXPECT_THAT(s.upper_bounds, ElementsAre(1, 2, 4));
  // le=1: 0,1,1   le=2: +2   le=4: +3,4   +Inf: +5,100
  EXPECT_THAT(s.cumulative, ElementsAre(3, 4, 6, 8));
  EXPECT_EQ(s.count, 8u);
  EXPECT_DOUBLE_EQ(s.sum, 116);
}

TEST(HistogramTest, NanosecondsIntoSecondBuckets) {
  auto h = Histogram::Create({0.0005, 0.001, 0.25}, 1e9);
  ASSERT_TRUE(h.ok()) << h.status();
  (*h)->Observe(500'000);        // exactly 0.5 ms: le="0.0005"
  (*h)->Observe(500'001);        // just above: le="0.001"
  (*h)->Observe(250'000'000);    // 0.25 s
  (*h)->Observe(3'000'000'000);  // 3 s: +Inf only
  const HistogramSnapshot s = (*h)->Read();
  EXPECT_THAT(s.cumulative, ElementsAre(1, 2, 3, 4));
  EXPECT_DOUBLE_EQ(s.sum, 3.251000001);
  EXPECT_EQ(s.count, 4u);
}

TEST(HistogramTest, ConcurrentObservationsAreAllCounted) {
  auto h = Histogram::Create({10, 100, 1000}, 1);
  ASSERT_TRUE(h.ok());
  constexpr int kThreads = 8;
  constexpr int kPerThread = 50'000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      // Each thread cycles through one value per bucket.
      const uint64_t values[] = {static_cast<uint64_t>(t), 50, 500, 5000};
      for (int i = 0; i < kPerThread; ++i) (*h)->Observe(values[i % 4]);
    });
  }
  for (auto& t : threads) t.join();
  const HistogramSnapshot s = (*h)->Read();
  constexpr uint64_t kQuarter = kThreads * kPerThread / 4;
  EXPECT_THAT(s.cumulative, ElementsAre(kQuarter, 2 * kQuarter, 3 * kQuarter, 4 * kQuarter));
  EXPECT_EQ(s.count, static_cast<uint64_t>(kThreads) * kPerThread);
  uint64_t expected_sum = 0;
  for (int t = 0; t < kThreads; ++t) {
    expected_sum += (static_cast<uint64_t>(t) + 50 + 500 + 5000) * (kPerThread / 4);
  }
  EXPECT_DOUBLE_EQ(s.sum, static_cast<double>(expected_sum));
}

}  // namespace
}  // namespace kiln::server::metrics

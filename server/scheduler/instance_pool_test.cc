#include "server/scheduler/instance_pool.h"

#include <atomic>
#include <chrono>
#include <thread>

#include "gtest/gtest.h"

namespace kiln::server {
namespace {

using std::chrono::milliseconds;

std::unique_ptr<InferenceJob> Job(std::function<void()> on_done) {
  auto job = std::make_unique<InferenceJob>();
  job->enqueue_time = std::chrono::steady_clock::now();
  job->done = [on_done](absl::StatusOr<engine::Outputs>, const JobTimings&) {
    on_done();
  };
  return job;
}

TEST(InstancePoolTest, RejectsZeroInstances) {
  InstancePool::Options options;
  options.instance_count = 0;
  auto pool = InstancePool::Create(options, nullptr);
  EXPECT_EQ(pool.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(InstancePoolTest, InstancesRunConcurrently) {
  std::atomic<int> running{0};
  std::atomic<int> peak{0};
  InstancePool::Options options;
  options.instance_count = 2;
  auto pool = InstancePool::Create(
      options, [&](const std::vector<engine::Tensor>&)
                   -> absl::StatusOr<engine::Outputs> {
        int now = ++running;
        int seen = peak.load();
        while (now > seen && !peak.compare_exchange_weak(seen, now)) {
        }
        std::this_thread::sleep_for(milliseconds(100));
        --running;
        return engine::Outputs{};
      });
  ASSERT_TRUE(pool.ok());
  std::atomic<int> done{0};
  for (int i = 0; i < 4; ++i) {
    ASSERT_TRUE((*pool)->Enqueue(Job([&] { ++done; })).ok());
  }
  (*pool)->Shutdown();
  EXPECT_EQ(done.load(), 4);
  EXPECT_EQ(peak.load(), 2);
}

TEST(InstancePoolTest, ShutdownFinishesAcceptedJobsThenRejects) {
  InstancePool::Options options;
  options.instance_count = 1;
  auto pool = InstancePool::Create(
      options, [](const std::vector<engine::Tensor>&)
                   -> absl::StatusOr<engine::Outputs> {
        std::this_thread::sleep_for(milliseconds(20));
        return absl::InternalError("model failed");
      });
  ASSERT_TRUE(pool.ok());
  std::atomic<int> failures{0};
  for (int i = 0; i < 5; ++i) {
    auto job = std::make_unique<InferenceJob>();
    job->enqueue_time = std::chrono::steady_clock::now();
    job->done = [&](absl::StatusOr<engine::Outputs> result, const JobTimings& t) {
      if (result.status().code() == absl::StatusCode::kInternal) ++failures;
      EXPECT_GT(t.compute_ns, 0u);
    };
    ASSERT_TRUE((*pool)->Enqueue(std::move(job)).ok());
  }
  (*pool)->Shutdown();
  EXPECT_EQ(failures.load(), 5);
  EXPECT_EQ((*pool)->Enqueue(Job([] {})).code(), absl::StatusCode::kUnavailable);
}

TEST(InstancePoolTest, QueueTimeIsMeasured) {
  InstancePool::Options options;
  options.instance_count = 1;
  auto pool = InstancePool::Create(
      options, [](const std::vector<engine::Tensor>&)
                   -> absl::StatusOr<engine::Outputs> {
        std::this_thread::sleep_for(milliseconds(50));
        return engine::Outputs{};
      });
  ASSERT_TRUE(pool.ok());
  std::atomic<uint64_t> second_queue_ns{0};
  ASSERT_TRUE((*pool)->Enqueue(Job([] {})).ok());
  auto job = std::make_unique<InferenceJob>();
  job->enqueue_time = std::chrono::steady_clock::now();
  job->done = [&](absl::StatusOr<engine::Outputs>, const JobTimings& t) {
    second_queue_ns = t.queue_ns;
  };
  ASSERT_TRUE((*pool)->Enqueue(std::move(job)).ok());
  (*pool)->Shutdown();
  // The second job waited behind the first one's 50 ms.
  EXPECT_GE(second_queue_ns.load(), 30'000'000u);
}

}  // namespace
}  // namespace kiln::server

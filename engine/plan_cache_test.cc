#include "engine/plan_cache.h"

#include <atomic>
#include <chrono>
#include <memory>
#include <ostream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/synchronization/notification.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace kiln::engine {

// Readable gMock failure messages for key lists.
void PrintTo(const Signature& signature, std::ostream* os) {
  *os << signature.ToString();
}

namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

// A plan that remembers which key it was built for, so tests can check that
// every caller got the plan of its own key.
class FakePlan : public CachedPlan {
 public:
  explicit FakePlan(std::string key) : key_(std::move(key)) {}
  const std::string& key() const { return key_; }

 private:
  std::string key_;
};

Signature ImageKey(int64_t batch) {
  return Signature{{DType::kFloat32}, {{batch, 3, 224, 224}}};
}

PlanCache::Builder BuilderFor(const Signature& key, std::atomic<int>* calls) {
  return [key, calls]() -> absl::StatusOr<std::shared_ptr<CachedPlan>> {
    calls->fetch_add(1);
    return std::make_shared<FakePlan>(key.ToString());
  };
}

std::string KeyOf(const std::shared_ptr<CachedPlan>& plan) {
  return static_cast<const FakePlan&>(*plan).key();
}

std::unique_ptr<PlanCache> MakeCache(size_t capacity,
                                     std::vector<int64_t> buckets = {}) {
  PlanCacheOptions options;
  options.capacity = capacity;
  options.batch_buckets = std::move(buckets);
  absl::StatusOr<std::unique_ptr<PlanCache>> cache = PlanCache::Create(options);
  EXPECT_TRUE(cache.ok()) << cache.status();
  return std::move(cache).value();
}

TEST(SignatureTest, ToStringNamesDTypeAndShapeOfEachInput) {
  Signature signature{{DType::kFloat32, DType::kInt64},
                      {{1, 3, 224, 224}, {1, 128}}};
  EXPECT_EQ(signature.ToString(), "f32[1,3,224,224];i64[1,128]");
}

TEST(SignatureTest, SignatureOfTensorsAndEquality) {
  std::vector<Tensor> inputs = {Tensor::Allocate(DType::kInt64, {2, 16}),
                                Tensor::Allocate(DType::kBFloat16, {2, 16, 8})};
  Signature signature = SignatureOf(inputs);
  EXPECT_EQ(signature.ToString(), "i64[2,16];bf16[2,16,8]");
  EXPECT_EQ(signature, (Signature{{DType::kInt64, DType::kBFloat16},
                                  {{2, 16}, {2, 16, 8}}}));
  EXPECT_NE(signature, (Signature{{DType::kInt32, DType::kBFloat16},
                                  {{2, 16}, {2, 16, 8}}}));
  EXPECT_NE(signature, (Signature{{DType::kInt64, DType::kBFloat16},
                                  {{2, 16}, {2, 16, 4}}}));
}

TEST(PlanCacheTest, CreateRejectsZeroCapacity) {
  PlanCacheOptions options;
  options.capacity = 0;
  absl::StatusOr<std::unique_ptr<PlanCache>> cache = PlanCache::Create(options);
  EXPECT_EQ(cache.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(cache.status().message()), HasSubstr("capacity"));
}

TEST(PlanCacheTest, CreateRejectsBadBuckets) {
  for (std::vector<int64_t> buckets : std::vector<std::vector<int64_t>>{
           {0, 1}, {-1}, {4, 2}, {1, 2, 2}}) {
    PlanCacheOptions options;
    options.batch_buckets = buckets;
    absl::StatusOr<std::unique_ptr<PlanCache>> cache =
        PlanCache::Create(options);
    EXPECT_EQ(cache.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(cache.status().message()), HasSubstr("buckets"));
  }
}

TEST(PlanCacheTest, MissBuildsThenHitReusesThePlan) {
  std::unique_ptr<PlanCache> cache = MakeCache(4);
  std::atomic<int> calls{0};
  const Signature key = ImageKey(1);

  absl::StatusOr<std::shared_ptr<CachedPlan>> first =
      cache->GetOrBuild(key, BuilderFor(key, &calls));
  ASSERT_TRUE(first.ok()) << first.status();
  absl::StatusOr<std::shared_ptr<CachedPlan>> second =
      cache->GetOrBuild(key, BuilderFor(key, &calls));
  ASSERT_TRUE(second.ok()) << second.status();

  EXPECT_EQ(calls.load(), 1);
  EXPECT_EQ(first->get(), second->get());
  EXPECT_EQ(KeyOf(*first), "f32[1,3,224,224]");
  PlanCacheStats stats = cache->stats();
  EXPECT_EQ(stats.hits, 1u);
  EXPECT_EQ(stats.misses, 1u);
  EXPECT_EQ(stats.builds, 1u);
  EXPECT_EQ(stats.build_failures, 0u);
  EXPECT_EQ(stats.evictions, 0u);
  EXPECT_EQ(stats.waits, 0u);
  EXPECT_EQ(stats.size, 1u);
}

TEST(PlanCacheTest, EvictsLeastRecentlyUsedBeyondCapacity) {
  std::unique_ptr<PlanCache> cache = MakeCache(3);
  std::atomic<int> calls{0};
  auto get = [&](int64_t batch) {
    const Signature key = ImageKey(batch);
    ASSERT_TRUE(cache->GetOrBuild(key, BuilderFor(key, &calls)).ok());
  };
  get(1);
  get(2);
  get(3);
  EXPECT_THAT(cache->Keys(), ElementsAre(ImageKey(3), ImageKey(2), ImageKey(1)));

  get(1);  // a hit makes batch 1 the most recent; batch 2 is now the oldest
  EXPECT_THAT(cache->Keys(), ElementsAre(ImageKey(1), ImageKey(3), ImageKey(2)));

  get(4);
  EXPECT_THAT(cache->Keys(), ElementsAre(ImageKey(4), ImageKey(1), ImageKey(3)));
  EXPECT_EQ(cache->stats().evictions, 1u);
  EXPECT_EQ(cache->stats().size, 3u);

  get(2);  // evicted, so built again
  EXPECT_EQ(calls.load(), 5);
  EXPECT_THAT(cache->Keys(), ElementsAre(ImageKey(2), ImageKey(4), ImageKey(1)));
  PlanCacheStats stats = cache->stats();
  EXPECT_EQ(stats.evictions, 2u);
  EXPECT_EQ(stats.hits, 1u);
  EXPECT_EQ(stats.misses, 5u);
}

TEST(PlanCacheTest, CapacityOneKeepsOnlyTheLatestAndEvictedPlansStayAlive) {
  std::unique_ptr<PlanCache> cache = MakeCache(1);
  std::atomic<int> calls{0};
  const Signature a = ImageKey(1);
  const Signature b = ImageKey(2);

  absl::StatusOr<std::shared_ptr<CachedPlan>> held =
      cache->GetOrBuild(a, BuilderFor(a, &calls));
  ASSERT_TRUE(held.ok());
  std::weak_ptr<CachedPlan> watch = *held;

  ASSERT_TRUE(cache->GetOrBuild(b, BuilderFor(b, &calls)).ok());
  EXPECT_THAT(cache->Keys(), ElementsAre(b));
  EXPECT_EQ(cache->stats().evictions, 1u);
  // A request still running the evicted plan keeps it.
  ASSERT_FALSE(watch.expired());
  EXPECT_EQ(KeyOf(*held), a.ToString());
  held = absl::CancelledError("request finished");
  EXPECT_TRUE(watch.expired());

  ASSERT_TRUE(cache->GetOrBuild(b, BuilderFor(b, &calls)).ok());
  ASSERT_TRUE(cache->GetOrBuild(a, BuilderFor(a, &calls)).ok());
  EXPECT_EQ(calls.load(), 3);
  EXPECT_EQ(cache->stats().evictions, 2u);
  EXPECT_EQ(cache->stats().size, 1u);
}

TEST(PlanCacheTest, FailedBuildIsReturnedAndNotCached) {
  std::unique_ptr<PlanCache> cache = MakeCache(4);
  const Signature key = ImageKey(8);
  int calls = 0;
  PlanCache::Builder failing =
      [&calls]() -> absl::StatusOr<std::shared_ptr<CachedPlan>> {
    ++calls;
    return absl::ResourceExhaustedError("arena of 3 GiB does not fit");
  };

  absl::StatusOr<std::shared_ptr<CachedPlan>> result =
      cache->GetOrBuild(key, failing);
  EXPECT_EQ(result.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(std::string(result.status().message()), HasSubstr("3 GiB"));
  EXPECT_TRUE(cache->Keys().empty());

  // The next request retries rather than replaying the error.
  std::atomic<int> good_calls{0};
  ASSERT_TRUE(cache->GetOrBuild(key, BuilderFor(key, &good_calls)).ok());
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(good_calls.load(), 1);
  PlanCacheStats stats = cache->stats();
  EXPECT_EQ(stats.builds, 2u);
  EXPECT_EQ(stats.build_failures, 1u);
  EXPECT_EQ(stats.size, 1u);
}

TEST(PlanCacheTest, NullPlanAndExceptionsBecomeInternalErrors) {
  std::unique_ptr<PlanCache> cache = MakeCache(4);
  absl::StatusOr<std::shared_ptr<CachedPlan>> null_plan = cache->GetOrBuild(
      ImageKey(1), []() -> absl::StatusOr<std::shared_ptr<CachedPlan>> {
        return std::shared_ptr<CachedPlan>();
      });
  EXPECT_EQ(null_plan.status().code(), absl::StatusCode::kInternal);

  absl::StatusOr<std::shared_ptr<CachedPlan>> thrown = cache->GetOrBuild(
      ImageKey(1), []() -> absl::StatusOr<std::shared_ptr<CachedPlan>> {
        throw std::runtime_error("oneDNN primitive creation failed");
      });
  EXPECT_EQ(thrown.status().code(), absl::StatusCode::kInternal);
  EXPECT_THAT(std::string(thrown.status().message()),
              HasSubstr("oneDNN primitive creation failed"));
  EXPECT_EQ(cache->stats().build_failures, 2u);
  EXPECT_TRUE(cache->Keys().empty());
}

TEST(PlanCacheTest, ConcurrentWaitersShareAFailedBuild) {
  std::unique_ptr<PlanCache> cache = MakeCache(4);
  const Signature key = ImageKey(4);
  constexpr int kWaiters = 7;
  absl::Notification build_started;
  absl::Notification release_build;
  std::atomic<int> calls{0};
  PlanCache::Builder failing =
      [&]() -> absl::StatusOr<std::shared_ptr<CachedPlan>> {
    calls.fetch_add(1);
    build_started.Notify();
    release_build.WaitForNotification();
    return absl::InternalError("lowering of aten::foo failed");
  };

  std::vector<absl::Status> results(kWaiters + 1);
  std::thread builder([&] { results[0] = cache->GetOrBuild(key, failing).status(); });
  build_started.WaitForNotification();
  std::vector<std::thread> waiters;
  for (int i = 1; i <= kWaiters; ++i) {
    waiters.emplace_back(
        [&, i] { results[i] = cache->GetOrBuild(key, failing).status(); });
  }
  // Release the build only once every waiter is blocked on it, so the test
  // checks sharing rather than retries.
  while (cache->stats().waits < kWaiters) std::this_thread::yield();
  release_build.Notify();
  builder.join();
  for (std::thread& t : waiters) t.join();

  EXPECT_EQ(calls.load(), 1);
  for (const absl::Status& status : results) {
    EXPECT_EQ(status.code(), absl::StatusCode::kInternal);
    EXPECT_THAT(std::string(status.message()), HasSubstr("aten::foo"));
  }
  PlanCacheStats stats = cache->stats();
  EXPECT_EQ(stats.builds, 1u);
  EXPECT_EQ(stats.build_failures, 1u);
  EXPECT_EQ(stats.waits, static_cast<uint64_t>(kWaiters));
  EXPECT_EQ(stats.size, 0u);
}

TEST(PlanCacheTest, BuildOfOneKeyDoesNotBlockOtherKeys) {
  std::unique_ptr<PlanCache> cache = MakeCache(4);
  absl::Notification build_started;
  absl::Notification release_build;
  const Signature slow = ImageKey(32);
  std::thread builder([&] {
    auto result = cache->GetOrBuild(
        slow, [&]() -> absl::StatusOr<std::shared_ptr<CachedPlan>> {
          build_started.Notify();
          release_build.WaitForNotification();
          return std::make_shared<FakePlan>("slow");
        });
    EXPECT_TRUE(result.ok());
  });
  build_started.WaitForNotification();
  // Would deadlock if the build held the cache lock.
  std::atomic<int> calls{0};
  const Signature fast = ImageKey(1);
  EXPECT_TRUE(cache->GetOrBuild(fast, BuilderFor(fast, &calls)).ok());
  EXPECT_TRUE(cache->GetOrBuild(fast, BuilderFor(fast, &calls)).ok());
  EXPECT_THAT(cache->Keys(), ElementsAre(fast));
  release_build.Notify();
  builder.join();
  EXPECT_THAT(cache->Keys(), ElementsAre(slow, fast));
}

TEST(PlanCacheTest, BucketingRoundsBatchUpToTheNextBucket) {
  std::unique_ptr<PlanCache> cache = MakeCache(8, {1, 2, 4, 8, 16});
  auto bucketed_batch = [&](int64_t batch) {
    Signature bucketed = cache->Bucketed(
        Signature{{DType::kInt64, DType::kInt64}, {{batch, 128}, {batch, 128}}});
    EXPECT_EQ(bucketed.shapes[0][0], bucketed.shapes[1][0]);
    EXPECT_EQ(bucketed.shapes[0][1], 128);  // only dim 0 is bucketed
    return bucketed.shapes[0][0];
  };
  EXPECT_EQ(bucketed_batch(1), 1);
  EXPECT_EQ(bucketed_batch(2), 2);
  EXPECT_EQ(bucketed_batch(3), 4);
  EXPECT_EQ(bucketed_batch(5), 8);
  EXPECT_EQ(bucketed_batch(9), 16);
  EXPECT_EQ(bucketed_batch(16), 16);
  EXPECT_EQ(bucketed_batch(17), 17);  // beyond every bucket: left as is
  EXPECT_EQ(bucketed_batch(100), 100);

  // Scalars have no batch dimension; dtypes are untouched.
  Signature with_scalar{{DType::kFloat32, DType::kFloat32}, {{3, 10}, {}}};
  Signature bucketed = cache->Bucketed(with_scalar);
  EXPECT_EQ(bucketed.ToString(), "f32[4,10];f32[]");

  // Batches 5..8 share one plan.
  std::atomic<int> calls{0};
  for (int64_t batch = 5; batch <= 8; ++batch) {
    Signature key = cache->Bucketed(ImageKey(batch));
    ASSERT_TRUE(cache->GetOrBuild(key, BuilderFor(key, &calls)).ok());
  }
  EXPECT_EQ(calls.load(), 1);
  EXPECT_THAT(cache->Keys(), ElementsAre(ImageKey(8)));
}

TEST(PlanCacheTest, NoBucketsLeavesSignatureUnchanged) {
  std::unique_ptr<PlanCache> cache = MakeCache(8);
  EXPECT_EQ(cache->Bucketed(ImageKey(3)), ImageKey(3));
}

TEST(PlanCacheTest, ManyThreadsBuildEachKeyExactlyOnce) {
  constexpr int kThreads = 16;
  constexpr int kRequestsPerThread = 200;
  constexpr int kKeys = 4;
  std::unique_ptr<PlanCache> cache = MakeCache(kKeys);
  std::vector<Signature> keys;
  for (int64_t i = 0; i < kKeys; ++i) keys.push_back(ImageKey(i + 1));

  std::atomic<int> builds{0};
  std::atomic<int> wrong_plans{0};
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int r = 0; r < kRequestsPerThread; ++r) {
        const Signature& key = keys[(t + r) % kKeys];
        absl::StatusOr<std::shared_ptr<CachedPlan>> plan = cache->GetOrBuild(
            key, [&]() -> absl::StatusOr<std::shared_ptr<CachedPlan>> {
              builds.fetch_add(1);
              // Long enough that other threads arrive while it builds.
              std::this_thread::sleep_for(std::chrono::milliseconds(2));
              return std::make_shared<FakePlan>(key.ToString());
            });
        if (!plan.ok()) {
          failures.fetch_add(1);
        } else if (KeyOf(*plan) != key.ToString()) {
          wrong_plans.fetch_add(1);
        }
      }
    });
  }
  for (std::thread& thread : threads) thread.join();

  EXPECT_EQ(builds.load(), kKeys);
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(wrong_plans.load(), 0);
  PlanCacheStats stats = cache->stats();
  EXPECT_EQ(stats.builds, static_cast<uint64_t>(kKeys));
  EXPECT_EQ(stats.hits + stats.misses,
            static_cast<uint64_t>(kThreads * kRequestsPerThread));
  EXPECT_EQ(stats.misses, stats.builds + stats.waits);
  EXPECT_EQ(stats.evictions, 0u);
  EXPECT_EQ(stats.size, static_cast<size_t>(kKeys));
}

}  // namespace
}  // namespace kiln::engine

namespace kiln::engine {
namespace {

TEST(PlanCacheAsyncTest, FirstMissStartsOneBuildOthersDoNotWaitThenItIsCached) {
  auto cache = PlanCache::Create(PlanCacheOptions{});
  ASSERT_TRUE(cache.ok());
  std::vector<std::function<void()>> launched;
  auto launch = [&](std::function<void()> job) { launched.push_back(std::move(job)); };
  int builds = 0;
  auto build = [&]() -> absl::StatusOr<std::shared_ptr<CachedPlan>> {
    ++builds;
    return std::make_shared<FakePlan>("b1");
  };
  EXPECT_EQ((*cache)->GetOrStartBuild(ImageKey(1), [&] { return PlanCache::Builder(build); }, launch), nullptr);
  EXPECT_EQ((*cache)->GetOrStartBuild(ImageKey(1), [&] { return PlanCache::Builder(build); }, launch), nullptr);  // under way
  ASSERT_EQ(launched.size(), 1u);
  EXPECT_EQ(builds, 0);  // nothing ran on the callers' thread
  launched[0]();         // the background thread
  EXPECT_EQ(builds, 1);
  auto plan = (*cache)->GetOrStartBuild(ImageKey(1), [&] { return PlanCache::Builder(build); }, launch);
  ASSERT_NE(plan, nullptr);
  EXPECT_EQ(static_cast<FakePlan&>(*plan).key(), "b1");
  EXPECT_EQ(launched.size(), 1u);
  const PlanCacheStats stats = (*cache)->stats();
  EXPECT_EQ(stats.misses, 2u);
  EXPECT_EQ(stats.hits, 1u);
  EXPECT_EQ(stats.builds, 1u);
  EXPECT_EQ(stats.waits, 0u);
}

TEST(PlanCacheAsyncTest, AFailedBuildIsNotCachedAndTheNextMissRetries) {
  auto cache = PlanCache::Create(PlanCacheOptions{});
  ASSERT_TRUE(cache.ok());
  std::vector<std::function<void()>> launched;
  auto launch = [&](std::function<void()> job) { launched.push_back(std::move(job)); };
  auto failing = []() -> absl::StatusOr<std::shared_ptr<CachedPlan>> {
    return absl::InternalError("no");
  };
  EXPECT_EQ((*cache)->GetOrStartBuild(ImageKey(2), [&] { return PlanCache::Builder(failing); }, launch), nullptr);
  launched.back()();
  EXPECT_EQ((*cache)->stats().build_failures, 1u);
  EXPECT_EQ((*cache)->GetOrStartBuild(ImageKey(2), [&] { return PlanCache::Builder(failing); }, launch), nullptr);
  EXPECT_EQ(launched.size(), 2u);  // started again
  launched.back()();
}

TEST(PlanCacheAsyncTest, SynchronousCallersWaitForAnAsynchronousBuild) {
  auto cache = PlanCache::Create(PlanCacheOptions{});
  ASSERT_TRUE(cache.ok());
  std::vector<std::thread> threads;
  absl::Notification release;
  auto launch = [&](std::function<void()> job) { threads.emplace_back(std::move(job)); };
  auto slow = [&]() -> absl::StatusOr<std::shared_ptr<CachedPlan>> {
    release.WaitForNotification();
    return std::make_shared<FakePlan>("async");
  };
  EXPECT_EQ((*cache)->GetOrStartBuild(ImageKey(4), [&] { return PlanCache::Builder(slow); }, launch), nullptr);
  std::thread waiter([&]() {
    auto plan = (*cache)->GetOrBuild(ImageKey(4), []() -> absl::StatusOr<std::shared_ptr<CachedPlan>> {
      return absl::InternalError("a second build must not run");
    });
    ASSERT_TRUE(plan.ok()) << plan.status();
    EXPECT_EQ(static_cast<FakePlan&>(**plan).key(), "async");
  });
  release.Notify();
  waiter.join();
  for (auto& t : threads) t.join();
  EXPECT_EQ((*cache)->stats().builds, 1u);
}

}  // namespace
}  // namespace kiln::engine

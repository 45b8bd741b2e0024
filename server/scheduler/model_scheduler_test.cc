#include "server/scheduler/model_scheduler.h"

#include <atomic>
#include <chrono>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/notification.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/scheduler/rejection.h"

namespace kiln::server {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using std::chrono::milliseconds;

// A [batch, 2] float input holding `value` everywhere.
engine::Tensor Input(int64_t batch, float value, int64_t cols = 2) {
  engine::Tensor t = engine::Tensor::Allocate(engine::DType::kFloat32, {batch, cols});
  float* data = static_cast<float*>(t.data);
  for (int64_t i = 0; i < batch * cols; ++i) data[i] = value;
  return t;
}

// The fake model: doubles its input and records each execution's batch size.
struct FakeModel {
  std::mutex mu;
  std::vector<int64_t> executions;
  std::atomic<int> running{0};
  std::atomic<int> peak{0};
  milliseconds delay{0};
  absl::Status fail_with;

  ModelScheduler::RunFn Fn() {
    return [this](const std::vector<engine::Tensor>& inputs) -> absl::StatusOr<engine::Outputs> {
      const int now = ++running;
      int seen = peak.load();
      while (now > seen && !peak.compare_exchange_weak(seen, now)) {
      }
      {
        std::lock_guard<std::mutex> lock(mu);
        executions.push_back(inputs[0].shape[0]);
      }
      // A first element of 99 asks for a slow run (ordering tests).
      if (static_cast<const float*>(inputs[0].data)[0] == 99.0f) {
        std::this_thread::sleep_for(milliseconds(150));
      }
      std::this_thread::sleep_for(delay);
      --running;
      if (!fail_with.ok()) return fail_with;
      engine::Tensor out = engine::Tensor::Allocate(inputs[0].dtype, inputs[0].shape);
      const float* in = static_cast<const float*>(inputs[0].data);
      float* o = static_cast<float*>(out.data);
      for (int64_t i = 0; i < out.num_elements(); ++i) o[i] = 2 * in[i];
      engine::Outputs outputs;
      outputs.tensors.push_back(out);
      return outputs;
    };
  }
  std::vector<int64_t> Executions() {
    std::lock_guard<std::mutex> lock(mu);
    return executions;
  }
};

// What one request got back.
struct Reply {
  absl::Notification done;
  absl::StatusOr<engine::Outputs> result = absl::UnknownError("no reply");
  JobTimings timings;
  int calls = 0;
};

std::unique_ptr<InferenceJob> Job(engine::Tensor input, Reply* reply, uint64_t priority = 0,
                                  uint64_t timeout_us = 0) {
  auto job = std::make_unique<InferenceJob>();
  job->batch_size = input.shape[0];
  job->inputs.push_back(std::move(input));
  job->priority = priority;
  job->timeout_us = timeout_us;
  job->done = [reply](absl::StatusOr<engine::Outputs> result, const JobTimings& timings) {
    reply->result = std::move(result);
    reply->timings = timings;
    ++reply->calls;
    reply->done.Notify();
  };
  return job;
}

ModelScheduler::Options Batching(int64_t max_batch, std::vector<int64_t> preferred,
                                 int64_t delay_us, int instances = 1) {
  ModelScheduler::Options options;
  options.instance_count = instances;
  options.label = "'fake' version 1";
  options.batching.dynamic = true;
  options.batching.max_batch_size = max_batch;
  options.batching.preferred_batch_sizes = std::move(preferred);
  options.batching.max_queue_delay_ns = delay_us * 1000;
  return options;
}

float FirstValue(const Reply& reply) {
  return static_cast<const float*>(reply.result->tensors[0].data)[0];
}

TEST(ModelSchedulerTest, RejectsZeroInstances) {
  ModelScheduler::Options options;
  options.instance_count = 0;
  EXPECT_EQ(ModelScheduler::Create(options, nullptr).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(ModelSchedulerTest, PreferredSizeFormsOneBatchAndEachRequestGetsItsOwnRows) {
  FakeModel model;
  std::vector<ExecutionRecord> records;
  ModelScheduler::Options options = Batching(8, {4}, /*delay_us=*/10'000'000);
  options.on_execution = [&](const ExecutionRecord& r) { records.push_back(r); };
  auto scheduler = ModelScheduler::Create(options, model.Fn());
  ASSERT_TRUE(scheduler.ok());
  Reply replies[3];
  ASSERT_TRUE((*scheduler)->Enqueue(Job(Input(1, 1), &replies[0])).ok());
  ASSERT_TRUE((*scheduler)->Enqueue(Job(Input(2, 2), &replies[1])).ok());
  ASSERT_TRUE((*scheduler)->Enqueue(Job(Input(1, 3), &replies[2])).ok());
  // 4 items = the preferred size: sent long before the 10 s delay.
  for (Reply& r : replies) ASSERT_TRUE(r.done.WaitForNotificationWithTimeout(absl::Seconds(5)));
  EXPECT_THAT(model.Executions(), ElementsAre(4));
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(replies[i].result.ok()) << replies[i].result.status();
    EXPECT_EQ(replies[i].result->tensors[0].shape[0], i == 1 ? 2 : 1);
    EXPECT_EQ(FirstValue(replies[i]), 2.0f * (i + 1));
    EXPECT_EQ(replies[i].timings.execution_batch_size, 4);
    EXPECT_EQ(replies[i].calls, 1);
  }
  (*scheduler)->Shutdown();
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].batch_size, 4);
  EXPECT_GT(records[0].compute_infer_ns, 0u);
}

TEST(ModelSchedulerTest, DelayExpirySendsAPartialBatch) {
  FakeModel model;
  auto scheduler = ModelScheduler::Create(Batching(8, {}, /*delay_us=*/20'000), model.Fn());
  ASSERT_TRUE(scheduler.ok());
  Reply a, b;
  ASSERT_TRUE((*scheduler)->Enqueue(Job(Input(1, 1), &a)).ok());
  ASSERT_TRUE((*scheduler)->Enqueue(Job(Input(1, 2), &b)).ok());
  ASSERT_TRUE(b.done.WaitForNotificationWithTimeout(absl::Seconds(5)));
  EXPECT_THAT(model.Executions(), ElementsAre(2));
  EXPECT_GE(a.timings.queue_ns, 15'000'000u);  // it waited for the delay
}

TEST(ModelSchedulerTest, WithoutDynamicBatchingRequestsRunAlone) {
  FakeModel model;
  ModelScheduler::Options options;
  options.batching.max_batch_size = 8;
  auto scheduler = ModelScheduler::Create(options, model.Fn());
  ASSERT_TRUE(scheduler.ok());
  Reply replies[3];
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE((*scheduler)->Enqueue(Job(Input(1, i), &replies[i])).ok());
  }
  (*scheduler)->Shutdown();
  EXPECT_THAT(model.Executions(), ElementsAre(1, 1, 1));
}

TEST(ModelSchedulerTest, DifferentShapesRunInDifferentBatches) {
  FakeModel model;
  auto scheduler = ModelScheduler::Create(Batching(8, {}, 10'000'000), model.Fn());
  ASSERT_TRUE(scheduler.ok());
  Reply a, b;
  ASSERT_TRUE((*scheduler)->Enqueue(Job(Input(1, 1, 2), &a)).ok());
  ASSERT_TRUE((*scheduler)->Enqueue(Job(Input(1, 1, 3), &b)).ok());
  // The shape change ends the first batch at once; the second waits for the
  // delay or for shutdown.
  ASSERT_TRUE(a.done.WaitForNotificationWithTimeout(absl::Seconds(5)));
  (*scheduler)->Shutdown();
  ASSERT_TRUE(b.result.ok());
  EXPECT_EQ(b.result->tensors[0].shape[1], 3);
  EXPECT_THAT(model.Executions(), ElementsAre(1, 1));
}

TEST(ModelSchedulerTest, AFailingBatchFailsEachOfItsRequests) {
  FakeModel model;
  model.fail_with = absl::InternalError("model exploded");
  auto scheduler = ModelScheduler::Create(Batching(8, {2}, 10'000'000), model.Fn());
  ASSERT_TRUE(scheduler.ok());
  Reply a, b;
  ASSERT_TRUE((*scheduler)->Enqueue(Job(Input(1, 1), &a)).ok());
  ASSERT_TRUE((*scheduler)->Enqueue(Job(Input(1, 2), &b)).ok());
  (*scheduler)->Shutdown();
  for (Reply* r : {&a, &b}) {
    EXPECT_EQ(r->calls, 1);
    EXPECT_EQ(r->result.status().code(), absl::StatusCode::kInternal);
    EXPECT_THAT(std::string(r->result.status().message()), HasSubstr("model exploded"));
  }
}

TEST(ModelSchedulerTest, FullQueueIsRefusedAtEnqueue) {
  FakeModel model;
  ModelScheduler::Options options = Batching(8, {}, 10'000'000);
  options.queue.default_policy.max_queue_size = 2;
  auto scheduler = ModelScheduler::Create(options, model.Fn());
  ASSERT_TRUE(scheduler.ok());
  Reply a, b, c;
  ASSERT_TRUE((*scheduler)->Enqueue(Job(Input(1, 1), &a)).ok());
  ASSERT_TRUE((*scheduler)->Enqueue(Job(Input(1, 1), &b)).ok());
  const absl::Status full = (*scheduler)->Enqueue(Job(Input(1, 1), &c));
  EXPECT_EQ(full.code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(std::string(full.message()), HasSubstr("Exceeds maximum queue size"));
  EXPECT_TRUE(IsRejected(full));  // counted as REJECTED
  (*scheduler)->Shutdown();
  EXPECT_EQ(a.calls + b.calls, 2);
  EXPECT_EQ(c.calls, 0);
}

TEST(ModelSchedulerTest, TimedOutRequestIsRejectedWhileTheInstanceIsBusy) {
  FakeModel model;
  ModelScheduler::Options options = Batching(1, {}, 0);
  options.queue.default_policy.allow_timeout_override = true;
  auto scheduler = ModelScheduler::Create(options, model.Fn());
  ASSERT_TRUE(scheduler.ok());
  Reply slow, expired;
  ASSERT_TRUE((*scheduler)->Enqueue(Job(Input(1, 99), &slow)).ok());  // 150 ms
  ASSERT_TRUE((*scheduler)->Enqueue(Job(Input(1, 1), &expired, 0, /*timeout_us=*/10'000)).ok());
  (*scheduler)->Shutdown();
  EXPECT_TRUE(slow.result.ok());
  EXPECT_EQ(expired.result.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(std::string(expired.result.status().message()), HasSubstr("Request timeout expired"));
  EXPECT_TRUE(IsRejected(expired.result.status()));
  EXPECT_FALSE(IsRejected(slow.result.status()));
  EXPECT_THAT(model.Executions(), ElementsAre(1));
}

TEST(ModelSchedulerTest, HigherPriorityRequestsRunFirst) {
  FakeModel model;
  ModelScheduler::Options options = Batching(1, {}, 0);
  options.queue.priority_levels = 2;
  options.queue.default_priority_level = 2;
  auto scheduler = ModelScheduler::Create(options, model.Fn());
  ASSERT_TRUE(scheduler.ok());
  std::mutex mu;
  std::vector<float> order;
  auto job = [&](float value, uint64_t priority) {
    auto j = std::make_unique<InferenceJob>();
    j->inputs.push_back(Input(1, value));
    j->priority = priority;
    j->done = [&, value](absl::StatusOr<engine::Outputs>, const JobTimings&) {
      std::lock_guard<std::mutex> lock(mu);
      order.push_back(value);
    };
    return j;
  };
  ASSERT_TRUE((*scheduler)->Enqueue(job(99, 2)).ok());  // occupies the instance
  std::this_thread::sleep_for(milliseconds(30));        // let it start
  ASSERT_TRUE((*scheduler)->Enqueue(job(1, 2)).ok());
  ASSERT_TRUE((*scheduler)->Enqueue(job(2, 0)).ok());   // default level 2
  ASSERT_TRUE((*scheduler)->Enqueue(job(3, 1)).ok());
  (*scheduler)->Shutdown();
  EXPECT_THAT(order, ElementsAre(99, 3, 1, 2));
}

TEST(ModelSchedulerTest, PreserveOrderingHoldsFastRepliesBehindSlowOnes) {
  for (const bool preserve : {false, true}) {
    FakeModel model;
    ModelScheduler::Options options = Batching(1, {}, 0, /*instances=*/2);
    options.preserve_ordering = preserve;
    auto scheduler = ModelScheduler::Create(options, model.Fn());
    ASSERT_TRUE(scheduler.ok());
    std::mutex mu;
    std::vector<float> order;
    for (float value : {99.0f, 1.0f}) {
      auto j = std::make_unique<InferenceJob>();
      j->inputs.push_back(Input(1, value));
      j->done = [&, value](absl::StatusOr<engine::Outputs>, const JobTimings&) {
        std::lock_guard<std::mutex> lock(mu);
        order.push_back(value);
      };
      ASSERT_TRUE((*scheduler)->Enqueue(std::move(j)).ok());
    }
    (*scheduler)->Shutdown();
    EXPECT_THAT(order, preserve ? ElementsAre(99, 1) : ElementsAre(1, 99)) << preserve;
  }
}

TEST(ModelSchedulerTest, InstancesRunConcurrently) {
  FakeModel model;
  model.delay = milliseconds(100);
  ModelScheduler::Options options;
  options.instance_count = 2;
  auto scheduler = ModelScheduler::Create(options, model.Fn());
  ASSERT_TRUE(scheduler.ok());
  Reply replies[4];
  for (Reply& r : replies) ASSERT_TRUE((*scheduler)->Enqueue(Job(Input(1, 1), &r)).ok());
  (*scheduler)->Shutdown();
  for (Reply& r : replies) EXPECT_EQ(r.calls, 1);
  EXPECT_EQ(model.peak.load(), 2);
}

TEST(ModelSchedulerTest, ShutdownRunsAcceptedJobsWithoutWaitingForTheDelayThenRefuses) {
  FakeModel model;
  auto scheduler = ModelScheduler::Create(Batching(8, {}, /*delay_us=*/60'000'000), model.Fn());
  ASSERT_TRUE(scheduler.ok());
  Reply a, b;
  ASSERT_TRUE((*scheduler)->Enqueue(Job(Input(1, 1), &a)).ok());
  ASSERT_TRUE((*scheduler)->Enqueue(Job(Input(1, 2), &b)).ok());
  const auto start = std::chrono::steady_clock::now();
  (*scheduler)->Shutdown();
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(30));
  EXPECT_TRUE(a.result.ok());
  EXPECT_TRUE(b.result.ok());
  Reply late;
  const absl::Status refused = (*scheduler)->Enqueue(Job(Input(1, 1), &late));
  EXPECT_EQ(refused.code(), absl::StatusCode::kUnavailable);
  EXPECT_FALSE(IsRejected(refused));  // unloading is not a queue rejection
  EXPECT_EQ(late.calls, 0);
}

}  // namespace
}  // namespace kiln::server

// The engine at levels 2 and 3 through the Model interface: plans are built
// per input signature, once even under concurrent first requests, kept in an
// LRU cache, and their results match the reference.
#include <torch/script.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <functional>
#include <random>
#include <thread>

#include "engine/model.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace kiln::engine {
namespace {

std::string TestRepo() {
  const char* repo = std::getenv("KILN_TEST_REPO");
  return repo ? repo : "";
}

Tensor Image(int64_t batch, int64_t size, float phase) {
  Tensor t = Tensor::Allocate(DType::kFloat32, {batch, 3, size, size});
  float* p = static_cast<float*>(t.data);
  for (int64_t i = 0; i < t.num_elements(); ++i) p[i] = std::sin(phase + 0.01f * i);
  return t;
}

std::vector<float> Floats(const Tensor& t) {
  const float* p = static_cast<const float*>(t.data);
  return std::vector<float>(p, p + t.num_elements());
}

// max |a - b| relative to max |b|.
double RelativeError(const std::vector<float>& a, const std::vector<float>& b) {
  double err = 0, scale = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    err = std::max(err, static_cast<double>(std::abs(a[i] - b[i])));
    scale = std::max(scale, static_cast<double>(std::abs(b[i])));
  }
  return scale > 0 ? err / scale : err;
}

std::unique_ptr<Model> LoadResnet18(int level, PrecisionPolicy precision, int cache_size = 16,
                                    std::vector<int64_t> buckets = {},
                                    std::function<void(double)> on_plan_built = {}) {
  const std::string path = TestRepo() + "/resnet18/1/model.pt";
  if (!std::filesystem::exists(path)) return nullptr;
  ModelOptions options;
  options.optimization_level = level;
  options.precision = precision;
  options.plan_cache_size = cache_size;
  options.batch_buckets = std::move(buckets);
  options.intra_op_threads = 1;
  options.on_plan_built = std::move(on_plan_built);
  auto model = Model::Load(path, options);
  EXPECT_TRUE(model.ok()) << model.status();
  return model.ok() ? *std::move(model) : nullptr;
}

TEST(CompiledModel, Fp32PlanMatchesTheReferenceAndIsReused) {
  auto reference = LoadResnet18(1, PrecisionPolicy::kFp32);
  std::vector<double> build_seconds;
  auto compiled = LoadResnet18(2, PrecisionPolicy::kFp32, 16, {},
                               [&](double seconds) { build_seconds.push_back(seconds); });
  ASSERT_NE(reference, nullptr) << "KILN_TEST_REPO must hold resnet18";
  ASSERT_NE(compiled, nullptr);
  const Tensor input = Image(1, 64, 0.3f);
  auto expected = reference->Run({input});
  ASSERT_TRUE(expected.ok()) << expected.status();
  for (int i = 0; i < 3; ++i) {
    auto got = compiled->Run({input});
    ASSERT_TRUE(got.ok()) << got.status();
    EXPECT_LT(RelativeError(Floats(got->tensors[0]), Floats(expected->tensors[0])), 1e-4);
  }
  const RunStats stats = compiled->run_stats();
  EXPECT_EQ(stats.plans_built, 1u);
  EXPECT_EQ(stats.fp32_plans, 1u);
  EXPECT_EQ(stats.plan_cache_misses, 1u);
  EXPECT_EQ(stats.plan_cache_hits, 2u);
  EXPECT_EQ(stats.accuracy_checks_passed, 1u);
  EXPECT_EQ(stats.accuracy_checks_fp32_passed, 1u);
  EXPECT_EQ(stats.accuracy_checks_fp32_failed, 0u);
  EXPECT_EQ(stats.accuracy_checks_bf16_passed + stats.accuracy_checks_bf16_failed, 0u);
  // The compile-time callback saw the one build, as long as run_stats says.
  ASSERT_EQ(build_seconds.size(), 1u);
  EXPECT_GT(build_seconds[0], 0);
  EXPECT_NEAR(build_seconds[0], stats.plan_build_ns / 1e9, 1e-3);
  EXPECT_EQ(stats.reference_fallbacks, 0u);
  EXPECT_EQ(stats.nodes_left_to_torchscript, 0u);
  EXPECT_GT(stats.worst_cosine, 0.99999);
}

TEST(CompiledModel, ConcurrentFirstRequestsBuildOnePlan) {
  auto compiled = LoadResnet18(3, PrecisionPolicy::kAuto);
  ASSERT_NE(compiled, nullptr) << "KILN_TEST_REPO must hold resnet18";
  const Tensor input = Image(1, 64, 0.7f);
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 6; ++t) {
    threads.emplace_back([&]() {
      for (int r = 0; r < 3; ++r) failures += !compiled->Run({input}).ok();
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  const RunStats stats = compiled->run_stats();
  EXPECT_EQ(stats.plans_built, 1u);
  EXPECT_EQ(stats.plan_cache_hits + stats.plan_cache_misses, 18u);
  EXPECT_EQ(stats.runs, 18u);
}

TEST(CompiledModel, EachSignatureGetsAPlanAndTheCacheEvicts) {
  auto compiled = LoadResnet18(2, PrecisionPolicy::kFp32, /*cache_size=*/1);
  ASSERT_NE(compiled, nullptr) << "KILN_TEST_REPO must hold resnet18";
  ASSERT_TRUE(compiled->Run({Image(1, 64, 0.1f)}).ok());
  ASSERT_TRUE(compiled->Run({Image(2, 64, 0.1f)}).ok());
  ASSERT_TRUE(compiled->Run({Image(1, 64, 0.1f)}).ok());
  const RunStats stats = compiled->run_stats();
  EXPECT_EQ(stats.plans_built, 3u);  // the first plan was evicted by the second
  EXPECT_EQ(stats.plan_cache_evictions, 2u);
  EXPECT_EQ(stats.plan_cache_size, 1u);
}

TEST(CompiledModel, BatchBucketsServeSeveralBatchSizesFromOnePlan) {
  auto reference = LoadResnet18(1, PrecisionPolicy::kFp32);
  auto compiled = LoadResnet18(2, PrecisionPolicy::kFp32, 16, {4, 8});
  ASSERT_NE(reference, nullptr) << "KILN_TEST_REPO must hold resnet18";
  for (int64_t batch : {3, 1, 2, 4, 3}) {
    const Tensor input = Image(batch, 64, 0.2f * batch);
    auto expected = reference->Run({input});
    auto got = compiled->Run({input});
    ASSERT_TRUE(got.ok()) << got.status();
    ASSERT_EQ(got->tensors[0].shape, expected->tensors[0].shape) << "batch " << batch;
    EXPECT_LT(RelativeError(Floats(got->tensors[0]), Floats(expected->tensors[0])), 1e-4)
        << "batch " << batch;
  }
  EXPECT_EQ(compiled->run_stats().plans_built, 1u);  // every batch padded to 4
}

TEST(CompiledModel, AutoPrecisionStaysWithinTheProductPromise) {
  auto reference = LoadResnet18(1, PrecisionPolicy::kFp32);
  auto compiled = LoadResnet18(3, PrecisionPolicy::kAuto);
  ASSERT_NE(reference, nullptr) << "KILN_TEST_REPO must hold resnet18";
  const Tensor input = Image(1, 96, 1.1f);
  auto expected = reference->Run({input});
  ASSERT_TRUE(compiled->Run({input}).ok());  // builds
  auto got = compiled->Run({input});         // runs the plan
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_LT(RelativeError(Floats(got->tensors[0]), Floats(expected->tensors[0])), 0.05);
  const RunStats stats = compiled->run_stats();
  EXPECT_EQ(stats.bf16_plans + stats.fp32_plans, 1u);
  EXPECT_GE(stats.worst_cosine, 0.999);
}

// fasterrcnn_resnet50_fpn: detections after NMS move by ~0.1 px when the
// input moves by one ulp, so on this image the fp32 tolerance alone rejects
// the plan (checked: without the re-check this test sees the check fail);
// the check against the reference's own sensitivity passes the fp32 plan
// (backbone, FPN and RPN head compiled) and its detections match.
TEST(CompiledModel, DetectorKeepsAPlanCheckedAgainstTheReferencesSensitivity) {
  const std::string path = TestRepo() + "/detector/1/model.pt";
  ASSERT_TRUE(std::filesystem::exists(path)) << "KILN_TEST_REPO must hold the detector";
  auto load = [&](int level) {
    ModelOptions options;
    options.optimization_level = level;
    options.precision = PrecisionPolicy::kFp32;
    auto model = Model::Load(path, options);
    EXPECT_TRUE(model.ok()) << model.status();
    return model.ok() ? *std::move(model) : nullptr;
  };
  auto reference = load(1);
  auto compiled = load(2);
  ASSERT_NE(reference, nullptr);
  ASSERT_NE(compiled, nullptr);
  // Standard normal pixels, as kiln-compile feeds it.
  Tensor image = Tensor::Allocate(DType::kFloat32, {3, 224, 224});
  std::mt19937 rng(1);
  std::normal_distribution<float> normal;
  float* p = static_cast<float*>(image.data);
  for (int64_t i = 0; i < image.num_elements(); ++i) p[i] = normal(rng);
  auto expected = reference->Run({image});
  ASSERT_TRUE(expected.ok()) << expected.status();
  ASSERT_GT(expected->tensors[0].shape[0], 0) << "no detections to compare";
  ASSERT_TRUE(compiled->Run({image}).ok());  // builds
  auto got = compiled->Run({image});         // runs the plan
  ASSERT_TRUE(got.ok()) << got.status();
  const RunStats stats = compiled->run_stats();
  // The check under test. (Whether the plan is then kept also depends on the
  // speed gate - 1.2x here, which a loaded machine can flip - so the answer
  // below may come from the plan or the reference; both must match.) Where
  // this run's timings gave the first plan Winograd convolutions, that plan
  // may miss even the re-check (Winograd rounds more) and is rebuilt without
  // them: one failure at most, and the rebuilt plan must pass.
  EXPECT_EQ(stats.accuracy_checks_fp32_passed, 1u);
  EXPECT_LE(stats.accuracy_checks_fp32_failed, 1u);
  ASSERT_EQ(got->tensors.size(), 3u);
  for (size_t i = 0; i < 3; ++i) {
    ASSERT_EQ(got->tensors[i].shape, expected->tensors[i].shape) << "output " << i;
  }
  EXPECT_LT(RelativeError(Floats(got->tensors[0]), Floats(expected->tensors[0])), 1e-2);
  EXPECT_LT(RelativeError(Floats(got->tensors[1]), Floats(expected->tensors[1])), 1e-2);
  const auto* labels = static_cast<const int64_t*>(got->tensors[2].data);
  const auto* expected_labels = static_cast<const int64_t*>(expected->tensors[2].data);
  EXPECT_TRUE(std::equal(labels, labels + got->tensors[2].num_elements(), expected_labels));
}

// A module torch.jit.freeze rejects (it re-points an interface-typed
// attribute in forward) still gets a plan: its convolution weights are
// attribute reads nothing assigns, captured when the plan is built.
TEST(CompiledModel, UnfrozenModuleGetsAPlanFromItsAttributeReads) {
  const std::string path = TestRepo() + "/no_freeze_cnn/1/model.pt";
  ASSERT_TRUE(std::filesystem::exists(path)) << "KILN_TEST_REPO must hold no_freeze_cnn";
  ModelOptions options;
  options.optimization_level = 2;
  options.precision = PrecisionPolicy::kFp32;
  auto compiled = Model::Load(path, options);
  ASSERT_TRUE(compiled.ok()) << compiled.status();
  EXPECT_FALSE((*compiled)->load_report().frozen);
  options.optimization_level = 1;
  auto reference = Model::Load(path, options);
  ASSERT_TRUE(reference.ok()) << reference.status();
  const Tensor input = Image(1, 64, 0.4f);
  auto expected = (*reference)->Run({input});
  ASSERT_TRUE(expected.ok()) << expected.status();
  for (int i = 0; i < 3; ++i) {  // build, then the plan twice
    auto got = (*compiled)->Run({input});
    ASSERT_TRUE(got.ok()) << got.status();
    EXPECT_LT(RelativeError(Floats(got->tensors[0]), Floats(expected->tensors[0])), 1e-4);
  }
  const RunStats stats = (*compiled)->run_stats();
  EXPECT_EQ(stats.fp32_plans, 1u);
  EXPECT_EQ(stats.reference_fallbacks, 0u);
  // Both convolutions compiled: what stays in TorchScript is the counter,
  // the interface call and the re-pointing.
  EXPECT_LE(stats.nodes_left_to_torchscript, 8u);
}

std::unique_ptr<Model> LoadResnet18Async() {
  ModelOptions options;
  options.optimization_level = 2;
  options.precision = PrecisionPolicy::kFp32;
  options.async_compile = true;
  options.intra_op_threads = 1;
  auto model = Model::Load(TestRepo() + "/resnet18/1/model.pt", options);
  EXPECT_TRUE(model.ok()) << model.status();
  return model.ok() ? *std::move(model) : nullptr;
}

// With async_compile the first request of a shape is answered by the
// reference while its plan builds on another thread; later requests use the
// plan once it is there.
TEST(CompiledModel, AsyncCompileAnswersFromTheReferenceWhileThePlanBuilds) {
  auto reference = LoadResnet18(1, PrecisionPolicy::kFp32);
  ASSERT_NE(reference, nullptr) << "KILN_TEST_REPO must hold resnet18";
  auto compiled = LoadResnet18Async();
  ASSERT_NE(compiled, nullptr);
  const Tensor input = Image(1, 64, 0.9f);
  auto expected = reference->Run({input});
  ASSERT_TRUE(expected.ok()) << expected.status();
  auto first = compiled->Run({input});
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_LT(RelativeError(Floats(first->tensors[0]), Floats(expected->tensors[0])), 1e-4);
  EXPECT_EQ(compiled->run_stats().plan_cache_misses, 1u);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  while (compiled->run_stats().plans_built == 0) {
    ASSERT_LT(std::chrono::steady_clock::now(), deadline) << "the plan was never built";
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  auto later = compiled->Run({input});
  ASSERT_TRUE(later.ok()) << later.status();
  EXPECT_LT(RelativeError(Floats(later->tensors[0]), Floats(expected->tensors[0])), 1e-4);
  const RunStats stats = compiled->run_stats();
  EXPECT_EQ(stats.plans_built, 1u);
  EXPECT_EQ(stats.accuracy_checks_fp32_passed, 1u);
  EXPECT_EQ(stats.plan_cache_hits, 1u);
}

TEST(CompiledModel, AsyncCompileInFlightWhenTheModelGoesAway) {
  auto compiled = LoadResnet18Async();
  ASSERT_NE(compiled, nullptr) << "KILN_TEST_REPO must hold resnet18";
  ASSERT_TRUE(compiled->Run({Image(1, 64, 0.2f)}).ok());
  EXPECT_EQ(compiled->run_stats().plan_cache_misses, 1u);  // a build started
  compiled.reset();  // waits for that build: it must not outlive the model
}

}  // namespace
}  // namespace kiln::engine

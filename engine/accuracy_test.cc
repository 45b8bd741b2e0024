#include "engine/accuracy.h"

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace kiln::engine {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();

Tensor Float32(std::vector<int64_t> shape, const std::vector<float>& values) {
  Tensor t = Tensor::Allocate(DType::kFloat32, std::move(shape));
  std::memcpy(t.data, values.data(), t.byte_size);
  return t;
}

Tensor Int64(std::vector<int64_t> shape, const std::vector<int64_t>& values) {
  Tensor t = Tensor::Allocate(DType::kInt64, std::move(shape));
  std::memcpy(t.data, values.data(), t.byte_size);
  return t;
}

Tensor Half(DType dtype, std::vector<int64_t> shape,
            const std::vector<uint16_t>& bits) {
  Tensor t = Tensor::Allocate(dtype, std::move(shape));
  std::memcpy(t.data, bits.data(), t.byte_size);
  return t;
}

// Activation-like values: standard normal, fixed seed.
std::vector<float> RandomValues(int64_t n, uint32_t seed = 7) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> values(n);
  for (float& v : values) v = normal(rng);
  return values;
}

// `values` each multiplied by (1 + relative * N(0,1)).
std::vector<float> WithRelativeNoise(std::vector<float> values, double relative,
                                     uint32_t seed = 11) {
  std::mt19937 rng(seed);
  std::normal_distribution<double> normal(0.0, 1.0);
  for (float& v : values) v = static_cast<float>(v * (1 + relative * normal(rng)));
  return values;
}

// Rounds to the nearest bfloat16 (ties to even), as a bf16 plan's output
// would be before widening back to fp32.
float RoundToBf16(float value) {
  uint32_t bits;
  std::memcpy(&bits, &value, sizeof(bits));
  bits += 0x7FFFu + ((bits >> 16) & 1u);
  bits &= 0xFFFF0000u;
  float rounded;
  std::memcpy(&rounded, &bits, sizeof(rounded));
  return rounded;
}

AccuracyReport CompareOne(const Tensor& ref, const Tensor& plan,
                          Precision precision = Precision::kFp32) {
  return CompareOutputs({ref}, {plan}, {"OUTPUT__0"},
                        DefaultTolerance(precision));
}

TEST(DefaultToleranceTest, DocumentedNumbers) {
  const Tolerance fp32 = DefaultTolerance(Precision::kFp32);
  EXPECT_EQ(fp32.rtol, 1e-4);
  EXPECT_EQ(fp32.atol_fraction, 1e-4);
  EXPECT_EQ(fp32.min_cosine, 0.99999);
  EXPECT_EQ(fp32.max_abs_fraction, 0.05);
  const Tolerance bf16 = DefaultTolerance(Precision::kBf16);
  EXPECT_EQ(bf16.rtol, 2e-2);
  EXPECT_EQ(bf16.atol_fraction, 2e-2);
  EXPECT_EQ(bf16.min_cosine, 0.999);
  EXPECT_EQ(bf16.max_abs_fraction, 0.05);
}

TEST(CompareOutputsTest, IdenticalOutputsPass) {
  const std::vector<float> values = RandomValues(1000);
  AccuracyReport report = CompareOutputs(
      {Float32({1, 1000}, values), Int64({1, 4}, {101, 2023, 7, 102})},
      {Float32({1, 1000}, values), Int64({1, 4}, {101, 2023, 7, 102})},
      {"logits", "ids"}, DefaultTolerance(Precision::kFp32));
  ASSERT_TRUE(report.passed) << report.Summary();
  ASSERT_EQ(report.outputs.size(), 2u);
  const OutputComparison& logits = report.outputs[0];
  EXPECT_EQ(logits.name, "logits");
  EXPECT_EQ(logits.max_abs_error, 0);
  EXPECT_EQ(logits.max_rel_error, 0);
  EXPECT_NEAR(logits.cosine, 1.0, 1e-12);
  EXPECT_EQ(logits.mismatches, 0);
  EXPECT_EQ(logits.elements, 1000);
  EXPECT_GT(logits.reference_max_abs, 2.0);
  EXPECT_THAT(logits.reason, IsEmpty());
  EXPECT_EQ(report.outputs[1].name, "ids");
  EXPECT_TRUE(report.outputs[1].passed);
}

TEST(CompareOutputsTest, SmallFp32NoisePassesFp32) {
  // Reordered fp32 summation: errors of a few ulps.
  const std::vector<float> ref = RandomValues(1000);
  AccuracyReport report = CompareOne(Float32({1, 1000}, ref),
                                     Float32({1, 1000}, WithRelativeNoise(ref, 1e-6)));
  EXPECT_TRUE(report.passed) << report.Summary();
  EXPECT_GT(report.outputs[0].max_abs_error, 0);
  EXPECT_LT(report.outputs[0].max_abs_error, 1e-4);
  EXPECT_GT(report.outputs[0].cosine, 0.99999);
}

TEST(CompareOutputsTest, Bf16RoundingFailsFp32AndPassesBf16) {
  const std::vector<float> ref = RandomValues(1000);
  std::vector<float> rounded = ref;
  for (float& v : rounded) v = RoundToBf16(v);
  const Tensor ref_tensor = Float32({1, 1000}, ref);
  const Tensor plan_tensor = Float32({1, 1000}, rounded);

  AccuracyReport as_fp32 = CompareOne(ref_tensor, plan_tensor, Precision::kFp32);
  EXPECT_FALSE(as_fp32.passed);
  EXPECT_GT(as_fp32.outputs[0].mismatches, 0);
  EXPECT_THAT(as_fp32.outputs[0].reason, HasSubstr("outside allclose"));

  AccuracyReport as_bf16 = CompareOne(ref_tensor, plan_tensor, Precision::kBf16);
  EXPECT_TRUE(as_bf16.passed) << as_bf16.Summary();
}

TEST(CompareOutputsTest, AccumulatedBf16ErrorFailsFp32AndPassesBf16) {
  // ~1% relative error: what bf16 weights and activations accumulate over a
  // deep network.
  const std::vector<float> ref = RandomValues(1000);
  const Tensor ref_tensor = Float32({1, 1000}, ref);
  const Tensor plan_tensor = Float32({1, 1000}, WithRelativeNoise(ref, 1e-2));
  EXPECT_FALSE(CompareOne(ref_tensor, plan_tensor, Precision::kFp32).passed);
  AccuracyReport as_bf16 = CompareOne(ref_tensor, plan_tensor, Precision::kBf16);
  EXPECT_TRUE(as_bf16.passed) << as_bf16.Summary();
  EXPECT_GT(as_bf16.outputs[0].cosine, 0.999);
  EXPECT_LT(as_bf16.outputs[0].cosine, 0.99999);
}

TEST(CompareOutputsTest, SignFlipOfOneChannelFailsOnCosine) {
  // NCHW [1,16,8,8]: a lowering that negates channel 5 (a wrong weight
  // layout does this kind of thing).
  const std::vector<float> ref = RandomValues(16 * 64);
  std::vector<float> flipped = ref;
  for (int i = 5 * 64; i < 6 * 64; ++i) flipped[i] = -flipped[i];
  AccuracyReport report = CompareOne(Float32({1, 16, 8, 8}, ref),
                                     Float32({1, 16, 8, 8}, flipped),
                                     Precision::kBf16);
  ASSERT_FALSE(report.passed);
  const OutputComparison& output = report.outputs[0];
  EXPECT_LT(output.cosine, 0.95);
  EXPECT_GT(output.cosine, 0.7);
  EXPECT_THAT(output.reason, AllOf(HasSubstr("cosine 0."), HasSubstr("< 0.999")));
  EXPECT_THAT(report.Summary(),
              AllOf(HasSubstr("accuracy FAILED"), HasSubstr("'OUTPUT__0' FAILED"),
                    HasSubstr("cosine")));
}

TEST(CompareOutputsTest, MaxAbsCriterionCatchesASpikeAllcloseWouldAllow) {
  // A loose allclose (as a model parameter might set) still cannot let one
  // element stray beyond max_abs_fraction of the output's scale.
  std::vector<float> ref = RandomValues(1000);
  std::vector<float> plan = ref;
  const int spike = 123;
  ref[spike] = 10.0f;  // the output's max
  plan[spike] = 10.8f;
  Tolerance tolerance = DefaultTolerance(Precision::kBf16);
  tolerance.rtol = 0.5;
  AccuracyReport report = CompareOutputs({Float32({1000}, ref)},
                                         {Float32({1000}, plan)}, {"scores"},
                                         tolerance);
  ASSERT_FALSE(report.passed);
  EXPECT_EQ(report.outputs[0].mismatches, 0);
  EXPECT_THAT(report.outputs[0].reason, HasSubstr("max abs error 0.8"));
}

TEST(CompareOutputsTest, ShapeMismatchNamesExpectedAndActual) {
  const std::vector<float> values = RandomValues(1000);
  AccuracyReport report =
      CompareOne(Float32({1, 1000}, values),
                 Float32({1, 999}, std::vector<float>(values.begin(), values.end() - 1)));
  ASSERT_FALSE(report.passed);
  EXPECT_THAT(report.outputs[0].reason,
              AllOf(HasSubstr("shape"), HasSubstr("expected [1,1000]"),
                    HasSubstr("got [1,999]")));
}

TEST(CompareOutputsTest, DTypeMismatchNamesExpectedAndActual) {
  AccuracyReport report =
      CompareOne(Float32({2}, {1.0f, 2.0f}),
                 Half(DType::kBFloat16, {2}, {0x3F80, 0x4000}));
  ASSERT_FALSE(report.passed);
  EXPECT_THAT(report.outputs[0].reason,
              AllOf(HasSubstr("expected float32"), HasSubstr("got bfloat16")));
}

TEST(CompareOutputsTest, OutputCountMismatchFails) {
  const Tensor t = Float32({3}, {1, 2, 3});
  AccuracyReport report = CompareOutputs({t, t}, {t}, {"a", "b"},
                                         DefaultTolerance(Precision::kFp32));
  ASSERT_FALSE(report.passed);
  ASSERT_EQ(report.outputs.size(), 2u);
  EXPECT_TRUE(report.outputs[0].passed);
  EXPECT_EQ(report.outputs[1].name, "b");
  EXPECT_THAT(report.outputs[1].reason, HasSubstr("missing from the plan"));
}

TEST(CompareOutputsTest, MalformedTensorFailsInsteadOfReadingPastIt) {
  Tensor short_buffer = Float32({4}, {1, 2, 3, 4});
  short_buffer.byte_size = 8;
  AccuracyReport report = CompareOne(Float32({4}, {1, 2, 3, 4}), short_buffer);
  ASSERT_FALSE(report.passed);
  EXPECT_THAT(report.outputs[0].reason, HasSubstr("holds 8 bytes, expected 16"));
}

TEST(CompareOutputsTest, IntegerOutputsMustMatchExactly) {
  std::vector<int64_t> ids(128);
  for (int i = 0; i < 128; ++i) ids[i] = 1000 + 37 * i;
  // Beyond 2^53: a comparison through double would call these equal.
  ids[0] = (int64_t{1} << 60) + 1;
  std::vector<int64_t> plan_ids = ids;
  plan_ids[0] = (int64_t{1} << 60);
  plan_ids[90] += 1;

  EXPECT_TRUE(CompareOne(Int64({1, 128}, ids), Int64({1, 128}, ids),
                         Precision::kBf16)
                  .passed);
  // Even the loosest tolerance does not apply to integers.
  AccuracyReport report = CompareOne(Int64({1, 128}, ids),
                                     Int64({1, 128}, plan_ids), Precision::kBf16);
  ASSERT_FALSE(report.passed);
  EXPECT_EQ(report.outputs[0].mismatches, 2);
  EXPECT_THAT(report.outputs[0].reason,
              AllOf(HasSubstr("2 of 128 elements differ"),
                    HasSubstr("int64 must match exactly"), HasSubstr("index 0")));
}

TEST(CompareOutputsTest, BoolOutputsMustMatchExactly) {
  Tensor ref = Tensor::Allocate(DType::kBool, {1000});
  Tensor plan = Tensor::Allocate(DType::kBool, {1000});
  for (int i = 0; i < 1000; i += 3) {
    static_cast<uint8_t*>(ref.data)[i] = 1;
    static_cast<uint8_t*>(plan.data)[i] = 1;
  }
  EXPECT_TRUE(CompareOne(ref, plan).passed);
  static_cast<uint8_t*>(plan.data)[1] = 1;
  AccuracyReport report = CompareOne(ref, plan);
  EXPECT_FALSE(report.passed);
  EXPECT_EQ(report.outputs[0].mismatches, 1);
}

TEST(CompareOutputsTest, NonFiniteValuesMatchOnlyTheSameValueInTheSamePlace) {
  std::vector<float> ref = RandomValues(1000);
  ref[10] = kNaN;
  ref[20] = kInf;
  ref[30] = -kInf;
  std::vector<float> plan = ref;
  const Tensor ref_tensor = Float32({1000}, ref);

  AccuracyReport same = CompareOne(ref_tensor, Float32({1000}, plan));
  ASSERT_TRUE(same.passed) << same.Summary();
  EXPECT_EQ(same.outputs[0].max_abs_error, 0);
  EXPECT_TRUE(std::isfinite(same.outputs[0].reference_max_abs));
  EXPECT_NEAR(same.outputs[0].cosine, 1.0, 1e-12);

  // A NaN the reference does not have.
  std::vector<float> extra_nan = plan;
  extra_nan[500] = kNaN;
  AccuracyReport report = CompareOne(ref_tensor, Float32({1000}, extra_nan));
  ASSERT_FALSE(report.passed);
  EXPECT_EQ(report.outputs[0].mismatches, 1);
  EXPECT_THAT(report.outputs[0].reason,
              AllOf(HasSubstr("non-finite"), HasSubstr("index 500")));
  EXPECT_TRUE(std::isfinite(report.outputs[0].cosine));

  // A finite value where the reference has NaN.
  std::vector<float> lost_nan = plan;
  lost_nan[10] = 0.0f;
  EXPECT_FALSE(CompareOne(ref_tensor, Float32({1000}, lost_nan)).passed);

  // Infinity of the wrong sign.
  std::vector<float> wrong_sign = plan;
  wrong_sign[20] = -kInf;
  EXPECT_FALSE(CompareOne(ref_tensor, Float32({1000}, wrong_sign)).passed);
}

TEST(CompareOutputsTest, ZeroReference) {
  const std::vector<float> zeros(1000, 0.0f);
  AccuracyReport both_zero =
      CompareOne(Float32({1000}, zeros), Float32({1000}, zeros));
  ASSERT_TRUE(both_zero.passed) << both_zero.Summary();
  EXPECT_EQ(both_zero.outputs[0].cosine, 1.0);
  EXPECT_EQ(both_zero.outputs[0].reference_max_abs, 0);

  // Negative zero is zero.
  const std::vector<float> negative_zeros(1000, -0.0f);
  EXPECT_TRUE(CompareOne(Float32({1000}, zeros), Float32({1000}, negative_zeros))
                  .passed);

  std::vector<float> not_zero = zeros;
  not_zero[7] = 1e-3f;
  AccuracyReport report = CompareOne(Float32({1000}, zeros),
                                     Float32({1000}, not_zero), Precision::kBf16);
  ASSERT_FALSE(report.passed);
  EXPECT_EQ(report.outputs[0].cosine, 0.0);
  EXPECT_THAT(report.outputs[0].reason, HasSubstr("cosine 0 < 0.999"));
}

TEST(CompareOutputsTest, HalfPrecisionOutputsAreDecoded) {
  // float16 1.0 vs the next float16 up (1 + 2^-10); bfloat16 likewise
  // (1 + 2^-7). Both fail fp32's rtol and pass bf16's.
  const Tensor f16_ref = Half(DType::kFloat16, {2}, {0x3C00, 0xC000});  // 1, -2
  const Tensor f16_plan = Half(DType::kFloat16, {2}, {0x3C01, 0xC000});
  AccuracyReport f16 = CompareOne(f16_ref, f16_plan, Precision::kFp32);
  ASSERT_FALSE(f16.passed);
  EXPECT_DOUBLE_EQ(f16.outputs[0].max_abs_error, 1.0 / 1024);
  EXPECT_DOUBLE_EQ(f16.outputs[0].reference_max_abs, 2.0);
  EXPECT_TRUE(CompareOne(f16_ref, f16_plan, Precision::kBf16).passed);

  const Tensor bf16_ref = Half(DType::kBFloat16, {2}, {0x3F80, 0xC000});  // 1, -2
  const Tensor bf16_plan = Half(DType::kBFloat16, {2}, {0x3F81, 0xC000});
  AccuracyReport bf16 = CompareOne(bf16_ref, bf16_plan, Precision::kBf16);
  EXPECT_TRUE(bf16.passed) << bf16.Summary();
  EXPECT_DOUBLE_EQ(bf16.outputs[0].max_abs_error, 1.0 / 128);

  // float16 subnormal (2^-24) and infinity.
  const Tensor special = Half(DType::kFloat16, {2}, {0x0001, 0x7C00});
  AccuracyReport same = CompareOne(special, special);
  ASSERT_TRUE(same.passed) << same.Summary();
  EXPECT_DOUBLE_EQ(same.outputs[0].reference_max_abs, std::ldexp(1.0, -24));
}

TEST(CompareOutputsTest, SummaryIsOneLineNamingEveryOutput) {
  const std::vector<float> values = RandomValues(1000);
  AccuracyReport report = CompareOutputs(
      {Float32({1000}, values), Int64({2}, {1, 2})},
      {Float32({1000}, values), Int64({2}, {1, 2})}, {"logits", "ids"},
      DefaultTolerance(Precision::kFp32));
  const std::string summary = report.Summary();
  EXPECT_THAT(summary, AllOf(HasSubstr("accuracy passed (2 outputs)"),
                             HasSubstr("'logits' ok"), HasSubstr("'ids' ok")));
  EXPECT_EQ(summary.find('\n'), std::string::npos);
}

}  // namespace
}  // namespace kiln::engine

namespace kiln::engine {
namespace {

// Boxes-like output (values up to ~200) off by 0.14 in a few places: fails
// fp32's allclose (atol 2e-4 * max|ref| = 0.04) on its own.
struct DetectorLikeOutputs {
  std::vector<Tensor> reference, plan;
  DetectorLikeOutputs() {
    std::vector<float> boxes(40);
    for (size_t i = 0; i < boxes.size(); ++i) boxes[i] = 5.0f * static_cast<float>(i);
    std::vector<float> moved = boxes;
    moved[7] += 0.14f;
    moved[21] -= 0.09f;
    reference = {Float32({10, 4}, boxes), Int64({10}, {1, 2, 3, 4, 0, 1, 2, 3, 4, 0})};
    plan = {Float32({10, 4}, moved), Int64({10}, {1, 2, 3, 4, 0, 1, 2, 3, 4, 0})};
  }
};

TEST(CompareWithinSensitivityTest, PassesWhenTheReferenceMovesAsMuchOnItsOwn) {
  DetectorLikeOutputs o;
  const Tolerance fp32 = DefaultTolerance(Precision::kFp32);
  ASSERT_FALSE(CompareOutputs(o.reference, o.plan, {}, fp32).passed);
  const AccuracyReport report =
      CompareWithinSensitivity(o.reference, o.plan, {}, fp32, {0.1, 0.0}, 4.0);
  EXPECT_TRUE(report.passed) << report.Summary();
}

TEST(CompareWithinSensitivityTest, FailsWhenThePlanMovesFarMoreThanTheReference) {
  DetectorLikeOutputs o;
  const AccuracyReport report = CompareWithinSensitivity(
      o.reference, o.plan, {}, DefaultTolerance(Precision::kFp32), {1e-3, 0.0}, 4.0);
  EXPECT_FALSE(report.passed);
  EXPECT_THAT(report.outputs[0].reason, HasSubstr("outside allclose"));
}

TEST(CompareWithinSensitivityTest, IntegerOutputsStillMatchExactly) {
  DetectorLikeOutputs o;
  o.plan[1] = Int64({10}, {1, 2, 3, 4, 0, 1, 2, 3, 4, 1});
  const AccuracyReport report = CompareWithinSensitivity(
      o.reference, o.plan, {}, DefaultTolerance(Precision::kFp32), {0.1, 1e9}, 4.0);
  EXPECT_TRUE(report.outputs[0].passed);
  EXPECT_FALSE(report.outputs[1].passed);
  EXPECT_FALSE(report.passed);
}

TEST(CompareWithinSensitivityTest, ShapesMustStillAgree) {
  DetectorLikeOutputs o;
  o.plan[0] = Float32({9, 4}, std::vector<float>(36, 0.0f));
  const AccuracyReport report = CompareWithinSensitivity(
      o.reference, o.plan, {}, DefaultTolerance(Precision::kFp32), {1e9, 0.0}, 4.0);
  EXPECT_FALSE(report.passed);
  EXPECT_THAT(report.outputs[0].reason, HasSubstr("shape"));
}

TEST(CompareWithinSensitivityTest, MaxAbsPromiseStillHolds) {
  // A sensitivity as large as the output itself would admit anything under
  // allclose; the 5 % max-abs promise does not move.
  DetectorLikeOutputs o;
  std::vector<float> wrong(40, 0.0f);
  o.plan[0] = Float32({10, 4}, wrong);
  const AccuracyReport report = CompareWithinSensitivity(
      o.reference, o.plan, {}, DefaultTolerance(Precision::kFp32), {1e3, 0.0}, 4.0);
  EXPECT_FALSE(report.passed);
}

}  // namespace
}  // namespace kiln::engine

#include "server/http/tensor_json.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstring>
#include <limits>

namespace kiln::server {
namespace {

using ::testing::HasSubstr;

template <typename T>
std::vector<T> Values(const std::string& bytes) {
  EXPECT_EQ(bytes.size() % sizeof(T), 0u);
  std::vector<T> out(bytes.size() / sizeof(T));
  if (!out.empty()) std::memcpy(out.data(), bytes.data(), bytes.size());
  return out;
}

template <typename T>
std::string Bytes(const std::vector<T>& values) {
  return std::string(reinterpret_cast<const char*>(values.data()),
                     values.size() * sizeof(T));
}

absl::StatusOr<std::string> ToBytes(const char* json, inference::DataType type,
                                    std::vector<int64_t> shape) {
  return JsonDataToBytes(Json::parse(json), type, shape, "model 'm' input 'x'");
}

std::string Error(const char* json, inference::DataType type,
                  std::vector<int64_t> shape) {
  auto bytes = ToBytes(json, type, shape);
  EXPECT_FALSE(bytes.ok()) << json;
  EXPECT_EQ(bytes.status().code(), absl::StatusCode::kInvalidArgument);
  return std::string(bytes.status().message());
}

TEST(JsonDataToBytesTest, Bool) {
  auto bytes = ToBytes("[true, false, true]", inference::TYPE_BOOL, {3});
  ASSERT_TRUE(bytes.ok()) << bytes.status();
  EXPECT_EQ(*bytes, std::string("\x01\x00\x01", 3));
  // Triton takes JSON booleans only.
  EXPECT_THAT(Error("[1, 0, 1]", inference::TYPE_BOOL, {3}),
              AllOf(HasSubstr("model 'm' input 'x'"), HasSubstr("value 0 (1)"),
                    HasSubstr("true or false")));
}

TEST(JsonDataToBytesTest, Int64FullRange) {
  auto bytes = ToBytes(
      "[[-9223372036854775808, 9223372036854775807], [0, -1]]",
      inference::TYPE_INT64, {2, 2});
  ASSERT_TRUE(bytes.ok()) << bytes.status();
  EXPECT_THAT(Values<int64_t>(*bytes),
              ::testing::ElementsAre(std::numeric_limits<int64_t>::min(),
                                     std::numeric_limits<int64_t>::max(), 0,
                                     -1));
  EXPECT_THAT(Error("[9223372036854775808]", inference::TYPE_INT64, {1}),
              HasSubstr("not a valid INT64"));
  EXPECT_THAT(Error("[1.5]", inference::TYPE_INT64, {1}),
              HasSubstr("an integer in"));
}

TEST(JsonDataToBytesTest, NarrowIntegersAreRangeChecked) {
  auto bytes = ToBytes("[-128, 127]", inference::TYPE_INT8, {2});
  ASSERT_TRUE(bytes.ok());
  EXPECT_THAT(Values<int8_t>(*bytes), ::testing::ElementsAre(-128, 127));
  EXPECT_THAT(Error("[1, 300]", inference::TYPE_INT8, {2}),
              AllOf(HasSubstr("value 1 (300)"), HasSubstr("-128..127")));
  EXPECT_THAT(Error("[-1]", inference::TYPE_UINT8, {1}),
              AllOf(HasSubstr("not a valid UINT8"), HasSubstr("0..255")));
  EXPECT_THAT(Error("[40000]", inference::TYPE_INT16, {1}),
              HasSubstr("-32768..32767"));
  EXPECT_THAT(Error("[2147483648]", inference::TYPE_INT32, {1}),
              HasSubstr("not a valid INT32"));
  auto uint8 = ToBytes("[0, 255]", inference::TYPE_UINT8, {2});
  ASSERT_TRUE(uint8.ok());
  EXPECT_EQ(*uint8, std::string("\x00\xff", 2));
}

TEST(JsonDataToBytesTest, FloatsTakeAnyNumber) {
  auto fp32 = ToBytes("[1, -2.5, 0.1]", inference::TYPE_FP32, {3});
  ASSERT_TRUE(fp32.ok());
  EXPECT_THAT(Values<float>(*fp32), ::testing::ElementsAre(1.0f, -2.5f, 0.1f));
  auto fp64 = ToBytes("[0.1, 3]", inference::TYPE_FP64, {2});
  ASSERT_TRUE(fp64.ok());
  EXPECT_THAT(Values<double>(*fp64), ::testing::ElementsAre(0.1, 3.0));
  EXPECT_THAT(Error("[1e300]", inference::TYPE_FP32, {1}),
              HasSubstr("within FP32's range"));
  EXPECT_THAT(Error("[\"1.0\"]", inference::TYPE_FP32, {1}),
              HasSubstr("not a valid FP32"));
  EXPECT_THAT(Error("[null]", inference::TYPE_FP64, {1}),
              HasSubstr("not a valid FP64"));
}

TEST(JsonDataToBytesTest, NestedAndFlatAreTheSame) {
  auto flat = ToBytes("[1, 2, 3, 4, 5, 6]", inference::TYPE_INT32, {2, 3});
  auto nested = ToBytes("[[1, 2, 3], [4, 5, 6]]", inference::TYPE_INT32, {2, 3});
  ASSERT_TRUE(flat.ok() && nested.ok());
  EXPECT_EQ(*flat, *nested);
}

TEST(JsonDataToBytesTest, CountMustMatchShape) {
  EXPECT_THAT(Error("[1, 2, 3]", inference::TYPE_FP32, {1, 4}),
              AllOf(HasSubstr("model 'm' input 'x'"),
                    HasSubstr("'data' holds 3 values, shape [1,4] needs 4")));
  EXPECT_THAT(Error("[[1, 2], [3, 4], [5]]", inference::TYPE_FP32, {2, 2}),
              HasSubstr("holds 5 values"));
  // A huge shape is refused by its count, not by allocating it.
  EXPECT_THAT(Error("[1]", inference::TYPE_FP32, {1 << 30, 1 << 30, 1 << 30}),
              HasSubstr("holds 1 values"));
  auto empty = ToBytes("[]", inference::TYPE_FP32, {0, 4});
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty->empty());
  auto scalar = ToBytes("[7]", inference::TYPE_INT64, {});
  ASSERT_TRUE(scalar.ok());
  EXPECT_THAT(Values<int64_t>(*scalar), ::testing::ElementsAre(7));
}

TEST(JsonDataToBytesTest, MalformedData) {
  EXPECT_THAT(Error("5", inference::TYPE_FP32, {1}),
              HasSubstr("'data' must be a JSON array"));
  EXPECT_THAT(Error("{\"a\": 1}", inference::TYPE_FP32, {1}),
              HasSubstr("must be a JSON array"));
  std::string deep(100, '[');
  deep += "1" + std::string(100, ']');
  EXPECT_THAT(Error(deep.c_str(), inference::TYPE_FP32, {1}),
              HasSubstr("nested deeper than 64"));
}

TEST(JsonDataToBytesTest, HalfPrecisionHasNoJsonForm) {
  EXPECT_THAT(Error("[1.0]", inference::TYPE_FP16, {1}),
              AllOf(HasSubstr("FP16 data cannot be sent as JSON"),
                    HasSubstr("binary_data_size")));
  EXPECT_THAT(Error("[1.0]", inference::TYPE_BF16, {1}),
              HasSubstr("BF16 data cannot be sent as JSON"));
}

TEST(JsonDataToBytesTest, BytesAreLengthPrefixed) {
  auto bytes = ToBytes("[\"ab\", \"\"]", inference::TYPE_STRING, {2});
  ASSERT_TRUE(bytes.ok());
  EXPECT_EQ(*bytes, std::string("\x02\x00\x00\x00" "ab" "\x00\x00\x00\x00", 10));
  EXPECT_THAT(Error("[1]", inference::TYPE_STRING, {1}),
              HasSubstr("not a valid BYTES"));
}

TEST(BytesToJsonDataTest, EveryJsonDatatype) {
  auto check = [](const std::string& bytes, inference::DataType type,
                  const char* expected) {
    auto data = BytesToJsonData(bytes, type, "model 'm' output 'y'");
    ASSERT_TRUE(data.ok()) << data.status();
    EXPECT_EQ(DumpJson(*data), expected);
  };
  check(std::string("\x01\x00", 2), inference::TYPE_BOOL, "[true,false]");
  check(Bytes<uint8_t>({0, 255}), inference::TYPE_UINT8, "[0,255]");
  check(Bytes<int8_t>({-128, 5}), inference::TYPE_INT8, "[-128,5]");
  check(Bytes<int16_t>({-300, 300}), inference::TYPE_INT16, "[-300,300]");
  check(Bytes<int32_t>({-70000}), inference::TYPE_INT32, "[-70000]");
  check(Bytes<int64_t>({std::numeric_limits<int64_t>::min()}),
        inference::TYPE_INT64, "[-9223372036854775808]");
  check(Bytes<float>({1.5f, -0.25f}), inference::TYPE_FP32, "[1.5,-0.25]");
  check(Bytes<double>({0.1}), inference::TYPE_FP64, "[0.1]");
  check("", inference::TYPE_FP32, "[]");
}

TEST(BytesToJsonDataTest, JsonRoundTripIsExact) {
  const std::vector<float> values = {0.1f, 1e-30f, 3.4e38f, -7.123456f};
  auto data = BytesToJsonData(Bytes(values), inference::TYPE_FP32, "y");
  ASSERT_TRUE(data.ok());
  auto back = JsonDataToBytes(Json::parse(DumpJson(*data)),
                              inference::TYPE_FP32, {4}, "y");
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back, Bytes(values));
}

TEST(BytesToJsonDataTest, RefusesHalfPrecisionAndPartialElements) {
  auto fp16 = BytesToJsonData(std::string(4, '\0'), inference::TYPE_FP16,
                              "model 'm' output 'y'");
  ASSERT_FALSE(fp16.ok());
  EXPECT_EQ(fp16.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(fp16.status().message()),
              AllOf(HasSubstr("model 'm' output 'y'"),
                    HasSubstr("FP16 data cannot be sent as JSON"),
                    HasSubstr("binary_data")));
  auto partial = BytesToJsonData(std::string(3, '\0'), inference::TYPE_FP32, "y");
  ASSERT_FALSE(partial.ok());
  EXPECT_EQ(partial.status().code(), absl::StatusCode::kInternal);
}

}  // namespace
}  // namespace kiln::server

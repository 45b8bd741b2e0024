#include "server/codec/datatype.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace kiln::server {
namespace {

using ::testing::HasSubstr;

struct Row {
  const char* wire;
  inference::DataType type;
  size_t size;
};

constexpr Row kRows[] = {
    {"BOOL", inference::TYPE_BOOL, 1},     {"UINT8", inference::TYPE_UINT8, 1},
    {"UINT16", inference::TYPE_UINT16, 2}, {"UINT32", inference::TYPE_UINT32, 4},
    {"UINT64", inference::TYPE_UINT64, 8}, {"INT8", inference::TYPE_INT8, 1},
    {"INT16", inference::TYPE_INT16, 2},   {"INT32", inference::TYPE_INT32, 4},
    {"INT64", inference::TYPE_INT64, 8},   {"FP16", inference::TYPE_FP16, 2},
    {"FP32", inference::TYPE_FP32, 4},     {"FP64", inference::TYPE_FP64, 8},
    {"BYTES", inference::TYPE_STRING, 0},  {"BF16", inference::TYPE_BF16, 2},
};

TEST(DatatypeTest, WireAndConfigRoundTrip) {
  for (const Row& row : kRows) {
    SCOPED_TRACE(row.wire);
    absl::StatusOr<inference::DataType> type = ParseWireDatatype(row.wire);
    ASSERT_TRUE(type.ok()) << type.status();
    EXPECT_EQ(*type, row.type);
    EXPECT_EQ(WireDatatype(row.type), row.wire);
    EXPECT_EQ(WireElementSize(row.type), row.size);
  }
}

TEST(DatatypeTest, UnknownWireDatatype) {
  for (const char* bad : {"fp32", "FLOAT", "", "STRING", "TYPE_FP32"}) {
    absl::StatusOr<inference::DataType> type = ParseWireDatatype(bad);
    ASSERT_FALSE(type.ok()) << bad;
    EXPECT_EQ(type.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(type.status().message(), HasSubstr("unknown datatype"));
  }
  EXPECT_EQ(WireDatatype(inference::TYPE_INVALID), "INVALID");
  EXPECT_EQ(WireElementSize(inference::TYPE_INVALID), 0u);
}

TEST(DatatypeTest, EngineDTypes) {
  const std::pair<inference::DataType, engine::DType> supported[] = {
      {inference::TYPE_BOOL, engine::DType::kBool},
      {inference::TYPE_UINT8, engine::DType::kUInt8},
      {inference::TYPE_INT8, engine::DType::kInt8},
      {inference::TYPE_INT16, engine::DType::kInt16},
      {inference::TYPE_INT32, engine::DType::kInt32},
      {inference::TYPE_INT64, engine::DType::kInt64},
      {inference::TYPE_FP16, engine::DType::kFloat16},
      {inference::TYPE_BF16, engine::DType::kBFloat16},
      {inference::TYPE_FP32, engine::DType::kFloat32},
      {inference::TYPE_FP64, engine::DType::kFloat64},
  };
  for (const auto& [type, dtype] : supported) {
    SCOPED_TRACE(WireDatatype(type));
    absl::StatusOr<engine::DType> got = ToEngineDType(type);
    ASSERT_TRUE(got.ok()) << got.status();
    EXPECT_EQ(*got, dtype);
    EXPECT_EQ(ToConfigDataType(dtype), type);
    EXPECT_EQ(WireDatatype(dtype), WireDatatype(type));
    EXPECT_EQ(engine::ElementSize(dtype), WireElementSize(type));
  }
}

TEST(DatatypeTest, UnsupportedEngineDTypes) {
  for (inference::DataType type :
       {inference::TYPE_UINT16, inference::TYPE_UINT32, inference::TYPE_UINT64,
        inference::TYPE_STRING, inference::TYPE_INVALID}) {
    absl::StatusOr<engine::DType> got = ToEngineDType(type);
    ASSERT_FALSE(got.ok()) << WireDatatype(type);
    EXPECT_EQ(got.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(got.status().message(), HasSubstr("not supported"));
    EXPECT_THAT(got.status().message(), HasSubstr(std::string(WireDatatype(type))));
  }
}

}  // namespace
}  // namespace kiln::server

// Decoding: every datatype from raw and typed contents, zero copy, batching.
// The rejection rules are in infer_request_validation_test.cc.
#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/codec/codec_test_util.h"
#include "server/codec/infer_request_decoder.h"

namespace kiln::server {
namespace {

using engine::DType;
using testing::AddInput;
using testing::Bytes;
using testing::MakeConfig;

absl::StatusOr<DecodedInputs> Decode(const inference::ModelInferRequest& request,
                                     const inference::ModelConfig& config) {
  return DecodeInferInputs(request, config, nullptr);
}

struct RawCase {
  const char* wire;
  inference::DataType type;
  DType dtype;
  std::string bytes;  // 6 elements
};

TEST(DecodeRawTest, EveryDatatypeByteForByte) {
  const RawCase cases[] = {
      {"BOOL", inference::TYPE_BOOL, DType::kBool, Bytes<uint8_t>({1, 0, 0, 1, 1, 0})},
      {"UINT8", inference::TYPE_UINT8, DType::kUInt8, Bytes<uint8_t>({0, 1, 127, 128, 254, 255})},
      {"INT8", inference::TYPE_INT8, DType::kInt8, Bytes<int8_t>({-128, -1, 0, 1, 2, 127})},
      {"INT16", inference::TYPE_INT16, DType::kInt16, Bytes<int16_t>({-32768, -2, 0, 3, 300, 32767})},
      {"INT32", inference::TYPE_INT32, DType::kInt32, Bytes<int32_t>({INT32_MIN, -5, 0, 7, 70000, INT32_MAX})},
      {"INT64", inference::TYPE_INT64, DType::kInt64, Bytes<int64_t>({INT64_MIN, -9, 0, 1LL << 40, 5, INT64_MAX})},
      {"FP16", inference::TYPE_FP16, DType::kFloat16, Bytes<uint16_t>({0x3C00, 0xBC00, 0x0000, 0x7C00, 0x3555, 0x0001})},
      {"BF16", inference::TYPE_BF16, DType::kBFloat16, Bytes<uint16_t>({0x3F80, 0xBF80, 0x0000, 0x7F80, 0x4049, 0x0001})},
      {"FP32", inference::TYPE_FP32, DType::kFloat32, Bytes<float>({1.5f, -2.25f, 0.f, 1e-30f, 3.4e38f, -0.f})},
      {"FP64", inference::TYPE_FP64, DType::kFloat64, Bytes<double>({1.5, -2.25, 0., 1e-300, 1e300, -0.})},
  };
  for (const RawCase& c : cases) {
    SCOPED_TRACE(c.wire);
    auto config = MakeConfig("m", 0, {{"x", c.type, {2, 3}}});
    inference::ModelInferRequest request;
    AddInput(&request, "x", c.wire, {2, 3});
    request.add_raw_input_contents(c.bytes);
    absl::StatusOr<DecodedInputs> got = Decode(request, config);
    ASSERT_TRUE(got.ok()) << got.status();
    ASSERT_EQ(got->tensors.size(), 1u);
    const engine::Tensor& t = got->tensors[0];
    EXPECT_EQ(t.dtype, c.dtype);
    EXPECT_EQ(t.shape, (std::vector<int64_t>{2, 3}));
    EXPECT_EQ(t.byte_size, c.bytes.size());
    EXPECT_EQ(Bytes(t), c.bytes);
    EXPECT_EQ(got->batch_size, 0);
  }
}

TEST(DecodeTypedTest, EveryDatatypeByteForByte) {
  struct Case {
    const char* wire;
    inference::DataType type;
    DType dtype;
    std::function<void(inference::InferTensorContents*)> fill;
    std::string expected;
  };
  const Case cases[] = {
      {"BOOL", inference::TYPE_BOOL, DType::kBool,
       [](auto* c) { for (bool v : {true, false, true, true}) c->add_bool_contents(v); },
       Bytes<uint8_t>({1, 0, 1, 1})},
      {"UINT8", inference::TYPE_UINT8, DType::kUInt8,
       [](auto* c) { for (uint32_t v : {0u, 1u, 128u, 255u}) c->add_uint_contents(v); },
       Bytes<uint8_t>({0, 1, 128, 255})},
      {"INT8", inference::TYPE_INT8, DType::kInt8,
       [](auto* c) { for (int v : {-128, -1, 0, 127}) c->add_int_contents(v); },
       Bytes<int8_t>({-128, -1, 0, 127})},
      {"INT16", inference::TYPE_INT16, DType::kInt16,
       [](auto* c) { for (int v : {-32768, -300, 0, 32767}) c->add_int_contents(v); },
       Bytes<int16_t>({-32768, -300, 0, 32767})},
      {"INT32", inference::TYPE_INT32, DType::kInt32,
       [](auto* c) { for (int v : {INT32_MIN, -1, 70000, INT32_MAX}) c->add_int_contents(v); },
       Bytes<int32_t>({INT32_MIN, -1, 70000, INT32_MAX})},
      {"INT64", inference::TYPE_INT64, DType::kInt64,
       [](auto* c) { for (int64_t v : {INT64_MIN, int64_t{-1}, int64_t{1} << 40, INT64_MAX}) c->add_int64_contents(v); },
       Bytes<int64_t>({INT64_MIN, -1, int64_t{1} << 40, INT64_MAX})},
      {"FP32", inference::TYPE_FP32, DType::kFloat32,
       [](auto* c) { for (float v : {1.5f, -2.25f, 1e-30f, -0.f}) c->add_fp32_contents(v); },
       Bytes<float>({1.5f, -2.25f, 1e-30f, -0.f})},
      {"FP64", inference::TYPE_FP64, DType::kFloat64,
       [](auto* c) { for (double v : {1.5, -2.25, 1e-300, -0.}) c->add_fp64_contents(v); },
       Bytes<double>({1.5, -2.25, 1e-300, -0.})},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.wire);
    auto config = MakeConfig("m", 0, {{"x", c.type, {4}}});
    inference::ModelInferRequest request;
    c.fill(AddInput(&request, "x", c.wire, {4})->mutable_contents());
    absl::StatusOr<DecodedInputs> got = Decode(request, config);
    ASSERT_TRUE(got.ok()) << got.status();
    const engine::Tensor& t = got->tensors[0];
    EXPECT_EQ(t.dtype, c.dtype);
    EXPECT_EQ(t.shape, (std::vector<int64_t>{4}));
    EXPECT_EQ(Bytes(t), c.expected);
    EXPECT_NE(t.owner, nullptr);
  }
}

TEST(DecodeRawTest, AlignedBytesAreViewedInPlace) {
  auto request = std::make_shared<inference::ModelInferRequest>();
  AddInput(request.get(), "x", "FP32", {2, 8});
  request->add_raw_input_contents(Bytes<float>(std::vector<float>(16, 2.5f)));
  const char* raw = request->raw_input_contents(0).data();
  ASSERT_EQ(reinterpret_cast<uintptr_t>(raw) % alignof(float), 0u);

  auto config = MakeConfig("m", 0, {{"x", inference::TYPE_FP32, {2, 8}}});
  absl::StatusOr<DecodedInputs> got = DecodeInferInputs(*request, config, request);
  ASSERT_TRUE(got.ok()) << got.status();
  const engine::Tensor& t = got->tensors[0];
  EXPECT_EQ(t.data, raw);
  EXPECT_EQ(t.byte_size, 64u);
  // The tensor keeps the request alive on its own.
  EXPECT_EQ(t.owner.get(), request.get());
  std::weak_ptr<inference::ModelInferRequest> weak = request;
  request.reset();
  EXPECT_FALSE(weak.expired());
  EXPECT_EQ(static_cast<const float*>(t.data)[15], 2.5f);
}

TEST(DecodeRawTest, MisalignedBytesAreCopied) {
  const std::vector<int64_t> values = {1, -2, 3, INT64_MAX};
  std::string buffer(1 + values.size() * sizeof(int64_t), '\0');
  // Find an offset that is misaligned for int64 whatever the buffer's start.
  size_t offset = 0;
  while ((reinterpret_cast<uintptr_t>(buffer.data()) + offset) % 8 == 0) ++offset;
  buffer.resize(offset + values.size() * sizeof(int64_t));
  std::memcpy(buffer.data() + offset, values.data(), values.size() * sizeof(int64_t));
  const std::string_view bytes(buffer.data() + offset, values.size() * sizeof(int64_t));

  auto owner = std::make_shared<int>(0);
  engine::Tensor t = TensorFromRawBytes(DType::kInt64, {4}, bytes, owner);
  EXPECT_NE(t.data, static_cast<const void*>(bytes.data()));
  EXPECT_EQ(reinterpret_cast<uintptr_t>(t.data) % 8, 0u);
  EXPECT_NE(t.owner, owner);
  EXPECT_EQ(Bytes(t), std::string(bytes));

  // The same bytes at an aligned address are viewed.
  const std::string aligned = Bytes(values);
  engine::Tensor v = TensorFromRawBytes(DType::kInt64, {4}, aligned, owner);
  EXPECT_EQ(v.data, static_cast<const void*>(aligned.data()));
  EXPECT_EQ(v.owner, owner);
}

TEST(DecodeTest, TensorsComeInConfigOrderWithBatchSize) {
  auto config = MakeConfig("m", 8,
                           {{"INPUT__0", inference::TYPE_FP32, {2}},
                            {"INPUT__1", inference::TYPE_INT64, {-1}}});
  inference::ModelInferRequest request;
  AddInput(&request, "INPUT__1", "INT64", {3, 5});
  AddInput(&request, "INPUT__0", "FP32", {3, 2});
  request.add_raw_input_contents(Bytes<int64_t>(std::vector<int64_t>(15, 7)));
  request.add_raw_input_contents(Bytes<float>(std::vector<float>(6, 1.f)));
  absl::StatusOr<DecodedInputs> got = Decode(request, config);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->batch_size, 3);
  ASSERT_EQ(got->tensors.size(), 2u);
  EXPECT_EQ(got->tensors[0].dtype, DType::kFloat32);
  EXPECT_EQ(got->tensors[0].shape, (std::vector<int64_t>{3, 2}));
  EXPECT_EQ(got->tensors[0].data, request.raw_input_contents(1).data());
  EXPECT_EQ(got->tensors[1].dtype, DType::kInt64);
  EXPECT_EQ(got->tensors[1].shape, (std::vector<int64_t>{3, 5}));
  EXPECT_EQ(got->tensors[1].data, request.raw_input_contents(0).data());
}

TEST(DecodeTest, BatchSizeAtTheLimitsIsAccepted) {
  auto config = MakeConfig("m", 8, {{"x", inference::TYPE_INT32, {2}}});
  for (int64_t batch : {1, 8}) {
    inference::ModelInferRequest request;
    auto* in = AddInput(&request, "x", "INT32", {batch, 2});
    for (int64_t k = 0; k < 2 * batch; ++k) in->mutable_contents()->add_int_contents(k);
    absl::StatusOr<DecodedInputs> got = Decode(request, config);
    ASSERT_TRUE(got.ok()) << got.status();
    EXPECT_EQ(got->batch_size, batch);
  }
}

TEST(DecodeTest, ZeroElementTensorsNeedNoData) {
  auto config = MakeConfig("m", 0,
                           {{"a", inference::TYPE_FP32, {-1, 4}},
                            {"b", inference::TYPE_FP16, {-1}}});
  inference::ModelInferRequest request;
  AddInput(&request, "a", "FP32", {0, 4});
  AddInput(&request, "b", "FP16", {0});
  absl::StatusOr<DecodedInputs> got = Decode(request, config);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->tensors[0].byte_size, 0u);
  EXPECT_EQ(got->tensors[1].byte_size, 0u);

  // A zero dim empties the tensor however large the others are.
  auto wide = MakeConfig("m", 0, {{"a", inference::TYPE_FP32, {-1, -1, -1}}});
  inference::ModelInferRequest huge;
  AddInput(&huge, "a", "FP32", {0, int64_t{1} << 62, int64_t{1} << 62});
  huge.add_raw_input_contents("");
  got = Decode(huge, wide);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->tensors[0].byte_size, 0u);
}

TEST(DecodeTest, ScalarInputs) {
  auto config = MakeConfig("m", 0, {{"s", inference::TYPE_INT64, {}}});
  inference::ModelInferRequest request;
  AddInput(&request, "s", "INT64", {})->mutable_contents()->add_int64_contents(42);
  absl::StatusOr<DecodedInputs> got = Decode(request, config);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_TRUE(got->tensors[0].shape.empty());
  EXPECT_EQ(*static_cast<const int64_t*>(got->tensors[0].data), 42);
}

}  // namespace
}  // namespace kiln::server

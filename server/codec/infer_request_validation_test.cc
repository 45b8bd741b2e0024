// Every rule by which DecodeInferInputs refuses a request, with its message.
#include <cstdint>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/codec/codec_test_util.h"
#include "server/codec/infer_request_decoder.h"

namespace kiln::server {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;
using testing::AddInput;
using testing::Bytes;
using testing::MakeConfig;

// The InvalidArgument message of a refused request ("" and a test failure
// when it was accepted or failed with another code).
std::string Refusal(const inference::ModelInferRequest& request,
                    const inference::ModelConfig& config) {
  absl::StatusOr<DecodedInputs> got = DecodeInferInputs(request, config, nullptr);
  EXPECT_FALSE(got.ok()) << "accepted";
  if (got.ok()) return "";
  EXPECT_EQ(got.status().code(), absl::StatusCode::kInvalidArgument) << got.status();
  return std::string(got.status().message());
}

inference::ModelConfig Resnet() {
  return MakeConfig("resnet18", 8, {{"INPUT__0", inference::TYPE_FP32, {3, 224, 224}}});
}

inference::ModelConfig TwoInputs(int max_batch_size = 0) {
  return MakeConfig("m", max_batch_size,
                    {{"a", inference::TYPE_FP32, {2}}, {"b", inference::TYPE_INT64, {2}}});
}

TEST(ValidateTest, ShapeMismatchMessage) {
  inference::ModelInferRequest request;
  AddInput(&request, "INPUT__0", "FP32", {1, 3, 224});
  request.add_raw_input_contents(std::string(3 * 224 * 4, '\0'));
  EXPECT_EQ(Refusal(request, Resnet()),
            "model 'resnet18' input 'INPUT__0': expected shape [-1,3,224,224], got [1,3,224]");
}

TEST(ValidateTest, DimMismatch) {
  inference::ModelInferRequest request;
  AddInput(&request, "INPUT__0", "FP32", {1, 3, 224, 225});
  request.add_raw_input_contents(std::string(3 * 224 * 225 * 4, '\0'));
  EXPECT_THAT(Refusal(request, Resnet()),
              AllOf(HasSubstr("model 'resnet18' input 'INPUT__0'"),
                    HasSubstr("expected shape [-1,3,224,224], got [1,3,224,225]")));
}

TEST(ValidateTest, NegativeDims) {
  auto config = MakeConfig("m", 0, {{"x", inference::TYPE_FP32, {-1, 3}}});
  inference::ModelInferRequest request;
  AddInput(&request, "x", "FP32", {-1, 3});
  EXPECT_THAT(Refusal(request, config),
              AllOf(HasSubstr("model 'm' input 'x'"), HasSubstr("[-1,3]"),
                    HasSubstr("negative dimension")));
}

TEST(ValidateTest, RawByteSizeMessage) {
  inference::ModelInferRequest request;
  AddInput(&request, "INPUT__0", "FP32", {1, 3, 224, 224});
  request.add_raw_input_contents(std::string(602100, '\0'));
  EXPECT_EQ(Refusal(request, Resnet()),
            "model 'resnet18' input 'INPUT__0': expected 602112 bytes for shape "
            "[1,3,224,224] FP32, got 602100");
}

TEST(ValidateTest, BatchSizeAboveMax) {
  auto config = MakeConfig("m", 8, {{"x", inference::TYPE_FP32, {2}}});
  inference::ModelInferRequest request;
  AddInput(&request, "x", "FP32", {9, 2});
  request.add_raw_input_contents(std::string(9 * 2 * 4, '\0'));
  EXPECT_THAT(Refusal(request, config),
              AllOf(HasSubstr("model 'm' input 'x'"),
                    HasSubstr("batch size 9 exceeds the model's max_batch_size 8")));
}

TEST(ValidateTest, BatchSizeZero) {
  auto config = MakeConfig("m", 8, {{"x", inference::TYPE_FP32, {2}}});
  inference::ModelInferRequest request;
  AddInput(&request, "x", "FP32", {0, 2});
  request.add_raw_input_contents("");
  EXPECT_THAT(Refusal(request, config),
              AllOf(HasSubstr("model 'm' input 'x'"),
                    HasSubstr("expected batch size >= 1, got 0")));
}

TEST(ValidateTest, BatchSizesDiffer) {
  inference::ModelInferRequest request;
  AddInput(&request, "a", "FP32", {2, 2});
  AddInput(&request, "b", "INT64", {3, 2});
  request.add_raw_input_contents(std::string(2 * 2 * 4, '\0'));
  request.add_raw_input_contents(std::string(3 * 2 * 8, '\0'));
  EXPECT_THAT(Refusal(request, TwoInputs(8)),
              AllOf(HasSubstr("model 'm' input 'b'"),
                    HasSubstr("expected batch size 2 (as input 'a'), got 3")));
}

TEST(ValidateTest, MissingInput) {
  inference::ModelInferRequest request;
  AddInput(&request, "a", "FP32", {2})->mutable_contents()->add_fp32_contents(1);
  EXPECT_THAT(Refusal(request, TwoInputs()),
              AllOf(HasSubstr("model 'm'"), HasSubstr("missing input 'b'"),
                    HasSubstr("expected inputs [a,b], got [a]")));
}

TEST(ValidateTest, UnexpectedInput) {
  inference::ModelInferRequest request;
  AddInput(&request, "a", "FP32", {2});
  AddInput(&request, "b", "INT64", {2});
  AddInput(&request, "c", "FP32", {2});
  EXPECT_THAT(Refusal(request, TwoInputs()),
              AllOf(HasSubstr("model 'm'"), HasSubstr("unexpected input 'c'"),
                    HasSubstr("expected inputs [a,b]")));
}

TEST(ValidateTest, DuplicateInput) {
  inference::ModelInferRequest request;
  AddInput(&request, "a", "FP32", {2});
  AddInput(&request, "a", "FP32", {2});
  EXPECT_THAT(Refusal(request, TwoInputs()),
              AllOf(HasSubstr("model 'm' input 'a'"), HasSubstr("duplicate input")));
}

TEST(ValidateTest, DatatypeMismatch) {
  inference::ModelInferRequest request;
  AddInput(&request, "INPUT__0", "INT64", {1, 3, 224, 224});
  EXPECT_EQ(Refusal(request, Resnet()),
            "model 'resnet18' input 'INPUT__0': expected datatype FP32, got INT64");
  request.mutable_inputs(0)->set_datatype("float32");
  EXPECT_THAT(Refusal(request, Resnet()), HasSubstr("expected datatype FP32, got float32"));
}

TEST(ValidateTest, BytesAndWideUnsignedAreRefused) {
  for (const auto& [type, wire] :
       {std::pair{inference::TYPE_STRING, "BYTES"}, std::pair{inference::TYPE_UINT16, "UINT16"},
        std::pair{inference::TYPE_UINT32, "UINT32"}, std::pair{inference::TYPE_UINT64, "UINT64"}}) {
    SCOPED_TRACE(wire);
    auto config = MakeConfig("m", 0, {{"x", type, {1}}});
    inference::ModelInferRequest request;
    AddInput(&request, "x", wire, {1});
    request.add_raw_input_contents(std::string(8, '\0'));
    EXPECT_THAT(Refusal(request, config),
                AllOf(HasSubstr("model 'm' input 'x'"), HasSubstr(wire),
                      HasSubstr("not supported")));
  }
}

TEST(ValidateTest, RawCountMustMatchInputs) {
  inference::ModelInferRequest request;
  AddInput(&request, "a", "FP32", {2});
  AddInput(&request, "b", "INT64", {2});
  request.add_raw_input_contents(std::string(8, '\0'));
  EXPECT_THAT(Refusal(request, TwoInputs()),
              AllOf(HasSubstr("model 'm'"),
                    HasSubstr("expected 2 raw_input_contents entries (one per input), got 1")));
}

TEST(ValidateTest, RawAndContentsTogether) {
  inference::ModelInferRequest request;
  AddInput(&request, "a", "FP32", {2});
  AddInput(&request, "b", "INT64", {2})->mutable_contents()->add_int64_contents(1);
  request.add_raw_input_contents(std::string(8, '\0'));
  request.add_raw_input_contents(std::string(16, '\0'));
  EXPECT_THAT(Refusal(request, TwoInputs()),
              AllOf(HasSubstr("model 'm' input 'b'"),
                    HasSubstr("contents must not be set when raw_input_contents is used")));
}

TEST(ValidateTest, RawBoolBytesMustBeZeroOrOne) {
  auto config = MakeConfig("m", 0, {{"x", inference::TYPE_BOOL, {3}}});
  inference::ModelInferRequest request;
  AddInput(&request, "x", "BOOL", {3});
  request.add_raw_input_contents(Bytes<uint8_t>({1, 0, 2}));
  EXPECT_THAT(Refusal(request, config),
              AllOf(HasSubstr("model 'm' input 'x'"),
                    HasSubstr("BOOL element 2 has byte value 2, expected 0 or 1")));
}

TEST(ValidateTest, TypedWrongField) {
  auto config = MakeConfig("m", 0, {{"x", inference::TYPE_FP32, {2}}});
  inference::ModelInferRequest request;
  auto* c = AddInput(&request, "x", "FP32", {2})->mutable_contents();
  c->add_int_contents(1);
  c->add_int_contents(2);
  EXPECT_THAT(Refusal(request, config),
              AllOf(HasSubstr("model 'm' input 'x'"),
                    HasSubstr("datatype FP32 expects its data in fp32_contents, got int_contents")));
  // The right field plus a wrong one is refused too.
  c->add_fp32_contents(1);
  c->add_fp32_contents(2);
  EXPECT_THAT(Refusal(request, config), HasSubstr("got int_contents"));
}

TEST(ValidateTest, TypedElementCount) {
  auto config = MakeConfig("m", 0, {{"x", inference::TYPE_FP32, {2, 3}}});
  inference::ModelInferRequest request;
  auto* c = AddInput(&request, "x", "FP32", {2, 3})->mutable_contents();
  for (int k = 0; k < 5; ++k) c->add_fp32_contents(k);
  EXPECT_THAT(Refusal(request, config),
              AllOf(HasSubstr("model 'm' input 'x'"),
                    HasSubstr("expected 6 elements in fp32_contents for shape [2,3], got 5")));
}

TEST(ValidateTest, NoDataAtAll) {
  auto config = MakeConfig("m", 0, {{"x", inference::TYPE_INT64, {2}}});
  inference::ModelInferRequest request;
  AddInput(&request, "x", "INT64", {2});
  EXPECT_THAT(Refusal(request, config),
              AllOf(HasSubstr("model 'm' input 'x'"), HasSubstr("no data"),
                    HasSubstr("expected 2 INT64 elements in raw_input_contents or int64_contents")));
}

TEST(ValidateTest, HalfPrecisionOnlyTravelsRaw) {
  for (const auto& [type, wire] : {std::pair{inference::TYPE_FP16, "FP16"},
                                   std::pair{inference::TYPE_BF16, "BF16"}}) {
    auto config = MakeConfig("m", 0, {{"x", type, {2}}});
    inference::ModelInferRequest request;
    auto* c = AddInput(&request, "x", wire, {2})->mutable_contents();
    EXPECT_THAT(Refusal(request, config),
                HasSubstr(std::string(wire) + " data must be sent in raw_input_contents"));
    c->add_fp32_contents(1);
    c->add_fp32_contents(2);
    EXPECT_THAT(Refusal(request, config),
                AllOf(HasSubstr("model 'm' input 'x'"),
                      HasSubstr(std::string(wire) + " data must be sent in raw_input_contents")));
  }
}

TEST(ValidateTest, OutOfRangeTypedValues) {
  struct Case {
    inference::DataType type;
    const char* wire;
    int64_t value;
    const char* text;
  };
  for (const Case& c : {Case{inference::TYPE_INT8, "INT8", 128, "int_contents[1] = 128"},
                        Case{inference::TYPE_INT8, "INT8", -129, "int_contents[1] = -129"},
                        Case{inference::TYPE_INT16, "INT16", 32768, "int_contents[1] = 32768"},
                        Case{inference::TYPE_INT16, "INT16", -32769, "int_contents[1] = -32769"},
                        Case{inference::TYPE_UINT8, "UINT8", 256, "uint_contents[1] = 256"}}) {
    SCOPED_TRACE(c.text);
    auto config = MakeConfig("m", 0, {{"x", c.type, {2}}});
    inference::ModelInferRequest request;
    auto* contents = AddInput(&request, "x", c.wire, {2})->mutable_contents();
    if (c.type == inference::TYPE_UINT8) {
      contents->add_uint_contents(0);
      contents->add_uint_contents(static_cast<uint32_t>(c.value));
    } else {
      contents->add_int_contents(0);
      contents->add_int_contents(static_cast<int32_t>(c.value));
    }
    EXPECT_THAT(Refusal(request, config),
                AllOf(HasSubstr("model 'm' input 'x'"), HasSubstr(c.text),
                      HasSubstr(std::string("out of range for ") + c.wire)));
  }
}

TEST(ValidateTest, HugeShapesNeitherOverflowNorAllocate) {
  auto config = MakeConfig("m", 0, {{"x", inference::TYPE_FP64, {-1, -1}}});
  {  // The byte size overflows 64 bits.
    inference::ModelInferRequest request;
    AddInput(&request, "x", "FP64", {int64_t{1} << 31, int64_t{1} << 31});
    request.add_raw_input_contents(std::string(8, '\0'));
    EXPECT_THAT(Refusal(request, config),
                AllOf(HasSubstr("model 'm' input 'x'"), HasSubstr("too large")));
  }
  {  // Product of the dims overflows (and wraps to a small number if unchecked).
    inference::ModelInferRequest request;
    AddInput(&request, "x", "FP64", {int64_t{1} << 62, 4});
    EXPECT_THAT(Refusal(request, config), HasSubstr("too large"));
  }
  {  // Fits in 64 bits but is far larger than memory: a size error, no allocation.
    inference::ModelInferRequest request;
    AddInput(&request, "x", "FP64", {int64_t{1} << 20, int64_t{1} << 20})
        ->mutable_contents()->add_fp64_contents(1);
    EXPECT_THAT(Refusal(request, config),
                HasSubstr("expected 1099511627776 elements in fp64_contents"));
    inference::ModelInferRequest raw;
    AddInput(&raw, "x", "FP64", {int64_t{1} << 20, int64_t{1} << 20});
    raw.add_raw_input_contents(std::string(8, '\0'));
    EXPECT_THAT(Refusal(raw, config), HasSubstr("expected 8796093022208 bytes"));
  }
}

}  // namespace
}  // namespace kiln::server

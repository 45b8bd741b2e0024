#include "server/http/infer_request_json.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstring>
#include <limits>

#include "server/codec/codec_test_util.h"
#include "server/codec/infer_request_decoder.h"

namespace kiln::server {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using testing::Bytes;
using testing::MakeConfig;

template <typename T>
std::vector<T> Values(const engine::Tensor& t) {
  std::vector<T> out(t.byte_size / sizeof(T));
  if (!out.empty()) std::memcpy(out.data(), t.data, t.byte_size);
  return out;
}

absl::StatusOr<HttpInferRequest> Parse(const std::string& body,
                                       std::optional<size_t> header = {}) {
  return ParseInferRequest(body, header, "m", "");
}

std::string Error(const std::string& body, std::optional<size_t> header = {},
                  absl::StatusCode code = absl::StatusCode::kInvalidArgument) {
  auto parsed = Parse(body, header);
  EXPECT_FALSE(parsed.ok()) << body;
  EXPECT_EQ(parsed.status().code(), code) << parsed.status();
  return std::string(parsed.status().message());
}

// A JSON header followed by binary bytes, as tritonclient.http sends them.
struct Body {
  std::string text;
  size_t header = 0;
};
Body WithBinary(const std::string& json, const std::string& binary) {
  return {json + binary, json.size()};
}

TEST(ParseInferRequestTest, JsonInputsBecomeRawBytes) {
  auto parsed = ParseInferRequest(
      R"({"id": "r1", "inputs": [
            {"name": "a", "datatype": "FP32", "shape": [1, 2], "data": [[1.5, 2]]},
            {"name": "b", "datatype": "INT64", "shape": [2], "data": [-1, 9007199254740993]}]})",
      std::nullopt, "m", "3");
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  const auto& req = parsed->request;
  EXPECT_EQ(req.model_name(), "m");
  EXPECT_EQ(req.model_version(), "3");
  EXPECT_EQ(req.id(), "r1");
  ASSERT_EQ(req.inputs_size(), 2);
  EXPECT_EQ(req.inputs(0).name(), "a");
  EXPECT_EQ(req.inputs(0).datatype(), "FP32");
  EXPECT_THAT(req.inputs(0).shape(), ElementsAre(1, 2));
  EXPECT_FALSE(req.inputs(0).has_contents());
  ASSERT_EQ(req.raw_input_contents_size(), 2);
  EXPECT_EQ(req.raw_input_contents(0), Bytes<float>({1.5f, 2.0f}));
  // INT64 beyond 2^53 survives (no detour through double).
  EXPECT_EQ(req.raw_input_contents(1),
            Bytes<int64_t>({-1, int64_t{9007199254740993}}));
  EXPECT_EQ(req.outputs_size(), 0);
  EXPECT_FALSE(parsed->output_format.IsBinary("anything"));
}

TEST(ParseInferRequestTest, DecodesLikeTheGrpcPath) {
  // BOOL and INT64 through DispatchInfer's decoder: the tensors it builds
  // from the converted request hold the JSON values.
  const auto config = MakeConfig("m", 4,
                                 {{"flags", inference::TYPE_BOOL, {3}},
                                  {"ids", inference::TYPE_INT64, {2}}});
  auto parsed = Parse(R"({"inputs": [
      {"name": "ids", "datatype": "INT64", "shape": [2, 2], "data": [[1, -2], [3, 4]]},
      {"name": "flags", "datatype": "BOOL", "shape": [2, 3],
       "data": [true, false, true, false, false, true]}]})");
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  auto decoded = DecodeInferInputs(parsed->request, config, nullptr);
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_EQ(decoded->batch_size, 2);
  ASSERT_EQ(decoded->tensors.size(), 2u);
  EXPECT_EQ(decoded->tensors[0].dtype, engine::DType::kBool);
  EXPECT_THAT(Values<uint8_t>(decoded->tensors[0]), ElementsAre(1, 0, 1, 0, 0, 1));
  EXPECT_EQ(decoded->tensors[1].dtype, engine::DType::kInt64);
  EXPECT_THAT(decoded->tensors[1].shape, ElementsAre(2, 2));
  EXPECT_THAT(Values<int64_t>(decoded->tensors[1]), ElementsAre(1, -2, 3, 4));
}

TEST(ParseInferRequestTest, BinaryAndJsonInputsSideBySide) {
  const std::string a = Bytes<float>({1, 2, 3, 4});
  const std::string c = Bytes<int32_t>({7});
  Body body = WithBinary(
      R"({"inputs": [
          {"name": "a", "datatype": "FP32", "shape": [1, 4], "parameters": {"binary_data_size": 16}},
          {"name": "b", "datatype": "FP32", "shape": [1, 1], "data": [5]},
          {"name": "c", "datatype": "INT32", "shape": [1], "parameters": {"binary_data_size": 4}}]})",
      a + c);
  auto parsed = Parse(body.text, body.header);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  ASSERT_EQ(parsed->request.raw_input_contents_size(), 3);
  EXPECT_EQ(parsed->request.raw_input_contents(0), a);
  EXPECT_EQ(parsed->request.raw_input_contents(1), Bytes<float>({5}));
  EXPECT_EQ(parsed->request.raw_input_contents(2), c);
}

TEST(ParseInferRequestTest, BinarySizeMismatch) {
  const std::string input = R"({"inputs": [{"name": "a", "datatype": "FP32",
      "shape": [1, 4], "parameters": {"binary_data_size": 16}}]})";
  // Fewer bytes than binary_data_size.
  Body short_body = WithBinary(input, std::string(12, '\0'));
  EXPECT_THAT(Error(short_body.text, short_body.header),
              AllOf(HasSubstr("model 'm' input 'a'"),
                    HasSubstr("binary_data_size is 16, but only 12 bytes")));
  // More bytes than the inputs claim.
  Body long_body = WithBinary(input, std::string(20, '\0'));
  EXPECT_THAT(Error(long_body.text, long_body.header),
              AllOf(HasSubstr("model 'm'"), HasSubstr("carries 20 bytes"),
                    HasSubstr("add up to 16")));
  // A size that disagrees with the shape passes here; DispatchInfer's
  // decoder refuses it with the expected byte count.
  const auto config = MakeConfig("m", 8, {{"a", inference::TYPE_FP32, {4}}});
  Body wrong = WithBinary(R"({"inputs": [{"name": "a", "datatype": "FP32",
      "shape": [1, 4], "parameters": {"binary_data_size": 12}}]})",
                          std::string(12, '\0'));
  auto parsed = Parse(wrong.text, wrong.header);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  auto decoded = DecodeInferInputs(parsed->request, config, nullptr);
  ASSERT_FALSE(decoded.ok());
  EXPECT_THAT(std::string(decoded.status().message()),
              AllOf(HasSubstr("input 'a'"), HasSubstr("expected 16 bytes"),
                    HasSubstr("got 12")));
}

TEST(ParseInferRequestTest, WrongHeaderLength) {
  const std::string json = R"({"inputs": [{"name": "a", "datatype": "FP32",
      "shape": [1], "parameters": {"binary_data_size": 4}}]})";
  // (1.1f has no zero byte: nlohmann's parser takes a NUL for the end.)
  const std::string body = json + Bytes<float>({1.1f});
  // Too short: the JSON is cut.
  EXPECT_THAT(Error(body, json.size() - 3), HasSubstr("not valid JSON"));
  // Too long: binary bytes are read as JSON.
  EXPECT_THAT(Error(body, json.size() + 2), HasSubstr("not valid JSON"));
  EXPECT_THAT(Error(body, body.size() + 1), HasSubstr("exceeds the body"));
  // No header at all: the binary data cannot be found.
  EXPECT_THAT(Error(json), HasSubstr("needs the Inference-Header-Content-Length"));
}

TEST(ParseInferRequestTest, UnknownDatatype) {
  EXPECT_THAT(Error(R"({"inputs": [{"name": "a", "datatype": "FP33",
      "shape": [1], "data": [1]}]})"),
              AllOf(HasSubstr("model 'm' input 'a'"),
                    HasSubstr("unknown datatype 'FP33'")));
  // Binary data with an unknown datatype goes through; the decoder names it.
  Body body = WithBinary(R"({"inputs": [{"name": "a", "datatype": "FP33",
      "shape": [1], "parameters": {"binary_data_size": 4}}]})",
                         std::string(4, '\0'));
  auto parsed = Parse(body.text, body.header);
  ASSERT_TRUE(parsed.ok());
  auto decoded = DecodeInferInputs(
      parsed->request, MakeConfig("m", 0, {{"a", inference::TYPE_FP32, {1}}}),
      nullptr);
  ASSERT_FALSE(decoded.ok());
  EXPECT_THAT(std::string(decoded.status().message()),
              AllOf(HasSubstr("expected datatype FP32"), HasSubstr("FP33")));
}

TEST(ParseInferRequestTest, ShapeAndDataCountMismatch) {
  EXPECT_THAT(Error(R"({"inputs": [{"name": "a", "datatype": "FP32",
      "shape": [2, 2], "data": [1, 2, 3]}]})"),
              AllOf(HasSubstr("model 'm' input 'a'"),
                    HasSubstr("holds 3 values, shape [2,2] needs 4")));
}

TEST(ParseInferRequestTest, MalformedRequests) {
  EXPECT_THAT(Error("{"), AllOf(HasSubstr("model 'm'"), HasSubstr("not valid JSON")));
  EXPECT_THAT(Error(""), HasSubstr("not valid JSON"));
  EXPECT_THAT(Error("[1]"), HasSubstr("must be a JSON object"));
  EXPECT_THAT(Error("{}"), HasSubstr("'inputs' must be a JSON array"));
  EXPECT_THAT(Error(R"({"id": 5, "inputs": []})"), HasSubstr("'id' must be a string"));
  EXPECT_THAT(Error(R"({"inputs": [5]})"), HasSubstr("inputs[0] must be a JSON object"));
  EXPECT_THAT(Error(R"({"inputs": [{"datatype": "FP32", "shape": [1], "data": [1]}]})"),
              HasSubstr("inputs[0]: 'name' must be a string"));
  EXPECT_THAT(Error(R"({"inputs": [{"name": "a", "shape": [1], "data": [1]}]})"),
              HasSubstr("input 'a': 'datatype' must be a string"));
  EXPECT_THAT(Error(R"({"inputs": [{"name": "a", "datatype": "FP32", "data": [1]}]})"),
              HasSubstr("'shape' must be a JSON array"));
  EXPECT_THAT(Error(R"({"inputs": [{"name": "a", "datatype": "FP32", "shape": [-1], "data": [1]}]})"),
              HasSubstr("'shape' must hold non-negative integers"));
  EXPECT_THAT(Error(R"({"inputs": [{"name": "a", "datatype": "FP32", "shape": [1]}]})"),
              HasSubstr("set 'data' or parameters.binary_data_size"));
  EXPECT_THAT(Error(R"({"inputs": [{"name": "a", "datatype": "FP32", "shape": [1],
      "data": [1], "parameters": {"binary_data_size": 4}}]})"),
              HasSubstr("not both"));
  EXPECT_THAT(Error(R"({"inputs": [{"name": "a", "datatype": "FP32", "shape": [1],
      "parameters": {"binary_data_size": -4}}]})", std::nullopt),
              HasSubstr("binary_data_size must be a non-negative integer"));
  EXPECT_THAT(Error(R"({"inputs": [], "outputs": {}})"),
              HasSubstr("'outputs' must be a JSON array"));
}

TEST(ParseInferRequestTest, HostileNestingIsRefusedWithoutCrashing) {
  const std::string deep = std::string(200000, '[') + std::string(200000, ']');
  EXPECT_THAT(Error(R"({"inputs": [{"name": "a", "datatype": "FP32", "shape": [1],
      "data": )" + deep + "}]}"),
              HasSubstr("nested deeper than"));
  EXPECT_THAT(Error(R"({"inputs": [], "id": )" + deep + "}"),
              HasSubstr("'id' must be a string"));
}

TEST(ParseInferRequestTest, RequestParameters) {
  auto parsed = Parse(R"({"inputs": [], "parameters": {
      "priority": 2, "timeout": 100, "tag": "x", "flag": true, "ratio": 0.5,
      "big": 18446744073709551615, "binary_data_output": true}})");
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  const auto& p = parsed->request.parameters();
  EXPECT_EQ(p.at("priority").int64_param(), 2);
  EXPECT_EQ(p.at("timeout").int64_param(), 100);
  EXPECT_EQ(p.at("tag").string_param(), "x");
  EXPECT_TRUE(p.at("flag").bool_param());
  EXPECT_DOUBLE_EQ(p.at("ratio").double_param(), 0.5);
  EXPECT_EQ(p.at("big").uint64_param(), std::numeric_limits<uint64_t>::max());
  // binary_data_output is the HTTP frontend's, not the model's.
  EXPECT_EQ(p.count("binary_data_output"), 0u);
  EXPECT_TRUE(parsed->output_format.binary_by_default);

  EXPECT_THAT(Error(R"({"inputs": [], "parameters": {"triton_x": 1}})"),
              HasSubstr("reserved"));
  EXPECT_THAT(Error(R"({"inputs": [], "parameters": {"x": [1]}})"),
              HasSubstr("parameter 'x' must be a bool, a number or a string"));
  EXPECT_THAT(Error(R"({"inputs": [], "parameters": {"binary_data_output": 1}})"),
              HasSubstr("'binary_data_output' must be a bool"));
  EXPECT_THAT(Error(R"({"inputs": [], "parameters": 3})"),
              HasSubstr("'parameters' must be a JSON object"));
}

TEST(ParseInferRequestTest, RequestedOutputs) {
  auto parsed = Parse(R"({"inputs": [], "outputs": [
      {"name": "y", "parameters": {"binary_data": true}},
      {"name": "z", "parameters": {"binary_data": false, "classification": 0}},
      {"name": "w"}]})");
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  ASSERT_EQ(parsed->request.outputs_size(), 3);
  EXPECT_EQ(parsed->request.outputs(0).name(), "y");
  EXPECT_EQ(parsed->request.outputs(2).name(), "w");
  EXPECT_TRUE(parsed->output_format.IsBinary("y"));
  EXPECT_FALSE(parsed->output_format.IsBinary("z"));
  EXPECT_FALSE(parsed->output_format.IsBinary("w"));

  EXPECT_THAT(Error(R"({"inputs": [], "outputs": [{"name": "y",
      "parameters": {"classification": 3}}]})",
                    std::nullopt, absl::StatusCode::kUnimplemented),
              AllOf(HasSubstr("model 'm' output 'y'"),
                    HasSubstr("classification extension is not supported")));
  EXPECT_THAT(Error(R"({"inputs": [], "outputs": [{"name": "y",
      "parameters": {"shared_memory_region": "r"}}]})",
                    std::nullopt, absl::StatusCode::kUnimplemented),
              HasSubstr("shared memory"));
  EXPECT_THAT(Error(R"({"inputs": [{"name": "a", "datatype": "FP32", "shape": [1],
      "parameters": {"shared_memory_region": "r"}}]})",
                    std::nullopt, absl::StatusCode::kUnimplemented),
              HasSubstr("shared memory inputs are not supported"));
  EXPECT_THAT(Error(R"({"inputs": [], "outputs": [{"name": "y",
      "parameters": {"binary_data": "yes"}}]})"),
              HasSubstr("binary_data must be a bool"));
}

TEST(ParseRawInferRequestTest, SingleInputShapeFromConfig) {
  const auto config = MakeConfig("cnn", 8, {{"INPUT__0", inference::TYPE_FP32, {2, 3}}});
  const std::string bytes = Bytes<float>({1, 2, 3, 4, 5, 6});
  auto parsed = ParseRawInferRequest(bytes, config, "2");
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  const auto& req = parsed->request;
  EXPECT_EQ(req.model_name(), "cnn");
  EXPECT_EQ(req.model_version(), "2");
  ASSERT_EQ(req.inputs_size(), 1);
  EXPECT_EQ(req.inputs(0).name(), "INPUT__0");
  EXPECT_EQ(req.inputs(0).datatype(), "FP32");
  EXPECT_THAT(req.inputs(0).shape(), ElementsAre(1, 2, 3));
  EXPECT_EQ(req.raw_input_contents(0), bytes);
  EXPECT_TRUE(parsed->output_format.binary_by_default);
  EXPECT_TRUE(DecodeInferInputs(req, config, nullptr).ok());
}

TEST(ParseRawInferRequestTest, DeducesTheOneVariableDim) {
  const auto config = MakeConfig("seq", 0, {{"ids", inference::TYPE_INT64, {2, -1}}});
  auto parsed = ParseRawInferRequest(Bytes<int64_t>({1, 2, 3, 4, 5, 6}), config, "");
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_THAT(parsed->request.inputs(0).shape(), ElementsAre(2, 3));
  EXPECT_EQ(parsed->request.inputs(0).datatype(), "INT64");
}

TEST(ParseRawInferRequestTest, Refusals) {
  auto two = ParseRawInferRequest(
      "", MakeConfig("two", 8, {{"a", inference::TYPE_FP32, {4}},
                                {"b", inference::TYPE_FP32, {4}}}),
      "");
  ASSERT_FALSE(two.ok());
  EXPECT_EQ(two.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(two.status().message()),
              AllOf(HasSubstr("model 'two'"), HasSubstr("exactly 1 input"),
                    HasSubstr("[a,b]")));
  auto variable = ParseRawInferRequest(
      "", MakeConfig("v", 0, {{"a", inference::TYPE_FP32, {-1, -1}}}), "");
  ASSERT_FALSE(variable.ok());
  EXPECT_THAT(std::string(variable.status().message()),
              AllOf(HasSubstr("model 'v' input 'a'"),
                    HasSubstr("more than one variable-size dim")));
  // A byte count that does not fill the shape is the decoder's to refuse.
  const auto config = MakeConfig("cnn", 8, {{"x", inference::TYPE_FP32, {4}}});
  auto odd = ParseRawInferRequest(std::string(10, '\0'), config, "");
  ASSERT_TRUE(odd.ok());
  auto decoded = DecodeInferInputs(odd->request, config, nullptr);
  ASSERT_FALSE(decoded.ok());
  EXPECT_THAT(std::string(decoded.status().message()),
              AllOf(HasSubstr("expected 16 bytes"), HasSubstr("got 10")));
}

}  // namespace
}  // namespace kiln::server

#include "server/http/infer_response_json.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "server/codec/codec_test_util.h"
#include "server/http/json.h"

namespace kiln::server {
namespace {

using ::testing::HasSubstr;
using testing::Bytes;

inference::ModelInferResponse TwoOutputs() {
  inference::ModelInferResponse response;
  response.set_model_name("m");
  response.set_model_version("1");
  auto* y = response.add_outputs();
  y->set_name("y");
  y->set_datatype("FP32");
  y->add_shape(1);
  y->add_shape(2);
  response.add_raw_output_contents(Bytes<float>({0.5f, -1.0f}));
  auto* z = response.add_outputs();
  z->set_name("z");
  z->set_datatype("INT64");
  z->add_shape(1);
  response.add_raw_output_contents(Bytes<int64_t>({42}));
  return response;
}

TEST(WriteInferResponseTest, JsonOutputs) {
  auto reply = WriteInferResponse(TwoOutputs(), OutputFormat{});
  ASSERT_TRUE(reply.ok()) << reply.status();
  EXPECT_FALSE(reply->header_length.has_value());
  EXPECT_EQ(reply->body,
            R"({"model_name":"m","model_version":"1","outputs":[)"
            R"({"name":"y","datatype":"FP32","shape":[1,2],"data":[0.5,-1.0]},)"
            R"({"name":"z","datatype":"INT64","shape":[1],"data":[42]}]})");
}

TEST(WriteInferResponseTest, IdAndParametersWhenSet) {
  auto response = TwoOutputs();
  response.set_id("req-7");
  (*response.mutable_parameters())["n"].set_int64_param(3);
  auto reply = WriteInferResponse(response, OutputFormat{});
  ASSERT_TRUE(reply.ok());
  const Json body = Json::parse(reply->body);
  EXPECT_EQ(body["id"], "req-7");
  EXPECT_EQ(body["parameters"]["n"], 3);
  EXPECT_EQ(body.begin().key(), "id");
}

TEST(WriteInferResponseTest, BinaryOutputsFollowTheJson) {
  OutputFormat format;
  format.binary["y"] = true;  // z stays JSON
  auto reply = WriteInferResponse(TwoOutputs(), format);
  ASSERT_TRUE(reply.ok()) << reply.status();
  ASSERT_TRUE(reply->header_length.has_value());
  const std::string json = reply->body.substr(0, *reply->header_length);
  EXPECT_EQ(reply->body.substr(*reply->header_length), Bytes<float>({0.5f, -1.0f}));
  const Json header = Json::parse(json);
  EXPECT_EQ(header["outputs"][0]["parameters"]["binary_data_size"], 8);
  EXPECT_FALSE(header["outputs"][0].contains("data"));
  EXPECT_EQ(header["outputs"][1]["data"], Json::array({42}));

  // binary_data_output: every output binary, bytes in output order.
  format = OutputFormat{};
  format.binary_by_default = true;
  reply = WriteInferResponse(TwoOutputs(), format);
  ASSERT_TRUE(reply.ok());
  ASSERT_TRUE(reply->header_length.has_value());
  EXPECT_EQ(reply->body.substr(*reply->header_length),
            Bytes<float>({0.5f, -1.0f}) + Bytes<int64_t>({42}));
}

TEST(WriteInferResponseTest, EmptyBinaryOutputsStayJson) {
  inference::ModelInferResponse response;
  response.set_model_name("m");
  response.set_model_version("1");
  auto* y = response.add_outputs();
  y->set_name("boxes");
  y->set_datatype("FP32");
  y->add_shape(0);
  y->add_shape(4);
  response.add_raw_output_contents("");
  OutputFormat format;
  format.binary_by_default = true;
  auto reply = WriteInferResponse(response, format);
  ASSERT_TRUE(reply.ok());
  EXPECT_FALSE(reply->header_length.has_value());
  EXPECT_EQ(Json::parse(reply->body)["outputs"][0]["parameters"]["binary_data_size"], 0);
}

TEST(WriteInferResponseTest, HalfPrecisionOutputNeedsBinary) {
  inference::ModelInferResponse response;
  response.set_model_name("m");
  response.set_model_version("1");
  auto* y = response.add_outputs();
  y->set_name("h");
  y->set_datatype("FP16");
  y->add_shape(2);
  response.add_raw_output_contents(std::string(4, '\0'));
  auto reply = WriteInferResponse(response, OutputFormat{});
  ASSERT_FALSE(reply.ok());
  EXPECT_EQ(reply.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(reply.status().message()),
              AllOf(HasSubstr("model 'm' output 'h'"), HasSubstr("FP16")));
  OutputFormat binary;
  binary.binary["h"] = true;
  EXPECT_TRUE(WriteInferResponse(response, binary).ok());
}

TEST(WriteInferResponseTest, MissingRawBytesIsInternal) {
  auto response = TwoOutputs();
  response.mutable_raw_output_contents()->RemoveLast();
  auto reply = WriteInferResponse(response, OutputFormat{});
  ASSERT_FALSE(reply.ok());
  EXPECT_EQ(reply.status().code(), absl::StatusCode::kInternal);
}

}  // namespace
}  // namespace kiln::server

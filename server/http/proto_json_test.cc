#include "server/http/proto_json.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "proto/grpc_service.pb.h"
#include "proto/model_config.pb.h"

namespace kiln::server {
namespace {

TEST(ProtoToJsonTest, ModelConfigInTritonsForm) {
  inference::ModelConfig config;
  config.set_name("m");
  config.set_platform("pytorch_libtorch");
  config.set_max_batch_size(8);
  auto* input = config.add_input();
  input->set_name("INPUT__0");
  input->set_data_type(inference::TYPE_FP32);
  input->add_dims(3);
  input->add_dims(-1);
  config.mutable_version_policy()->mutable_latest()->set_num_versions(2);
  (*config.mutable_parameters())["KILN_OPT_LEVEL"].set_string_value("2");
  config.mutable_dynamic_batching()->set_max_queue_delay_microseconds(500);

  const Json json = ProtoToJson(config);
  EXPECT_EQ(json["name"], "m");
  EXPECT_EQ(json["max_batch_size"], 8);
  // Defaults are printed (always_print_primitive_fields)...
  EXPECT_EQ(json["backend"], "");
  EXPECT_EQ(json["output"], Json::array());
  // ...unset messages are not; set oneof members are.
  EXPECT_FALSE(json.contains("optimization"));
  EXPECT_FALSE(json.contains("sequence_batching"));
  EXPECT_EQ(json["dynamic_batching"]["max_queue_delay_microseconds"], 500);
  EXPECT_EQ(json["dynamic_batching"]["preserve_ordering"], false);
  const Json& in = json["input"][0];
  EXPECT_EQ(in["data_type"], "TYPE_FP32");
  EXPECT_EQ(in["format"], "FORMAT_NONE");
  EXPECT_EQ(in["dims"], Json::array({3, -1}));  // int64 as numbers
  EXPECT_EQ(json["version_policy"]["latest"]["num_versions"], 2);
  EXPECT_FALSE(json["version_policy"].contains("all"));
  EXPECT_EQ(json["parameters"]["KILN_OPT_LEVEL"]["string_value"], "2");
}

TEST(ProtoToJsonTest, StatisticsNumbersAndMapKeys) {
  inference::ModelStatisticsResponse response;
  auto* stats = response.add_model_stats();
  stats->set_name("m");
  stats->set_version("1");
  stats->set_inference_count(18446744073709551615ull);
  stats->mutable_inference_stats()->mutable_success()->set_count(3);
  stats->mutable_inference_stats()->mutable_success()->set_ns(1200);
  auto* batch = stats->add_batch_stats();
  batch->set_batch_size(4);
  const Json json = ProtoToJson(response);
  const Json& s = json["model_stats"][0];
  EXPECT_EQ(s["inference_count"].get<uint64_t>(), 18446744073709551615ull);
  EXPECT_EQ(s["inference_stats"]["success"]["count"], 3);
  EXPECT_EQ(s["inference_stats"]["success"]["ns"], 1200);
  EXPECT_EQ(s["batch_stats"][0]["batch_size"], 4);
  EXPECT_EQ(s["last_inference"], 0);

  inference::ModelConfig config;
  (*config.mutable_dynamic_batching()->mutable_priority_queue_policy())[2]
      .set_max_queue_size(5);
  EXPECT_EQ(ProtoToJson(config)["dynamic_batching"]["priority_queue_policy"]["2"]
                ["max_queue_size"],
            5);
}

TEST(ProtoToJsonTest, MetadataAndBytes) {
  inference::ModelMetadataResponse md;
  md.set_name("m");
  md.add_versions("1");
  auto* t = md.add_inputs();
  t->set_name("x");
  t->set_datatype("FP32");
  t->add_shape(-1);
  t->add_shape(4);
  EXPECT_EQ(DumpJson(ProtoToJson(md)),
            R"({"name":"m","versions":["1"],"platform":"","inputs":)"
            R"([{"name":"x","datatype":"FP32","shape":[-1,4]}],"outputs":[]})");

  inference::ModelRepositoryParameter p;
  p.set_bytes_param(std::string("\x00\xff", 2));
  EXPECT_EQ(ProtoToJson(p)["bytes_param"], "AP8=");
  EXPECT_FALSE(ProtoToJson(p).contains("string_param"));
}

}  // namespace
}  // namespace kiln::server

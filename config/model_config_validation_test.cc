// ValidateModelConfig: every rule has a passing baseline and a failing case
// whose full message is checked, since the message is the user's only clue.
#include <string>

#include "config/model_config_loader.h"
#include "gmock/gmock.h"
#include "google/protobuf/text_format.h"
#include "gtest/gtest.h"

namespace kiln::config {
namespace {

using ::testing::HasSubstr;

constexpr char kPath[] = "models/m/config.pbtxt";

// A valid batching config; each test breaks one thing.
inference::ModelConfig Valid() {
  inference::ModelConfig config;
  EXPECT_TRUE(google::protobuf::TextFormat::ParseFromString(
      R"pb(
        name: "m"
        platform: "pytorch_libtorch"
        max_batch_size: 8
        input {
          name: "x"
          data_type: TYPE_FP32
          dims: [ 3, -1 ]
        }
        input { name: "s" data_type: TYPE_INT64 }
        output {
          name: "y"
          data_type: TYPE_FP32
          dims: [ 10 ]
        }
        dynamic_batching { preferred_batch_size: [ 1, 8 ] }
        instance_group { count: 0 }
        version_policy { latest { num_versions: 2 } }
      )pb",
      &config));
  return config;
}

// The message of validating `config`, or "OK".
std::string Check(const inference::ModelConfig& config) {
  absl::Status status = ValidateModelConfig(config, kPath, "m");
  if (status.ok()) return "OK";
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  return std::string(status.message());
}

TEST(ValidateModelConfigTest, ValidConfigPasses) {
  EXPECT_EQ(Check(Valid()), "OK");
}

TEST(ValidateModelConfigTest, NormalizedConfigStillPasses) {
  inference::ModelConfig config = Valid();
  NormalizeModelConfig("m", &config);
  EXPECT_EQ(Check(config), "OK");
}

TEST(ValidateModelConfigTest, NameMustMatchDirectory) {
  inference::ModelConfig config = Valid();
  config.set_name("other");
  EXPECT_EQ(Check(config),
            "models/m/config.pbtxt: name: must match the model directory 'm', "
            "got 'other'");
  config.clear_name();
  EXPECT_EQ(Check(config), "OK");
}

TEST(ValidateModelConfigTest, NameCheckDerivesDirectoryFromPath) {
  inference::ModelConfig config = Valid();
  config.set_name("other");
  EXPECT_THAT(std::string(ValidateModelConfig(config, kPath).message()),
              HasSubstr("model directory 'm'"));
  // Without a directory there is nothing to compare with.
  EXPECT_TRUE(ValidateModelConfig(config, "config.pbtxt").ok());
}

TEST(ValidateModelConfigTest, PlatformOrBackendRequired) {
  inference::ModelConfig config = Valid();
  config.clear_platform();
  EXPECT_EQ(Check(config),
            "models/m/config.pbtxt: platform: one of platform: "
            "\"pytorch_libtorch\" or backend: \"pytorch\" is required");
  config.set_backend("pytorch");
  EXPECT_EQ(Check(config), "OK");
}

TEST(ValidateModelConfigTest, OtherPlatformRejected) {
  inference::ModelConfig config = Valid();
  config.set_platform("onnxruntime_onnx");
  EXPECT_EQ(Check(config),
            "models/m/config.pbtxt: platform: Kiln serves only "
            "\"pytorch_libtorch\", got \"onnxruntime_onnx\"");
}

TEST(ValidateModelConfigTest, OtherBackendRejected) {
  inference::ModelConfig config = Valid();
  config.clear_platform();
  config.set_backend("python");
  EXPECT_EQ(Check(config),
            "models/m/config.pbtxt: backend: Kiln serves only \"pytorch\", got "
            "\"python\"");
}

TEST(ValidateModelConfigTest, NegativeMaxBatchSize) {
  inference::ModelConfig config = Valid();
  config.clear_dynamic_batching();
  config.set_max_batch_size(-1);
  EXPECT_EQ(Check(config),
            "models/m/config.pbtxt: max_batch_size: must be >= 0, got -1");
}

TEST(ValidateModelConfigTest, InputsAndOutputsRequired) {
  inference::ModelConfig config = Valid();
  config.clear_input();
  EXPECT_EQ(Check(config),
            "models/m/config.pbtxt: input: at least one input is required");
  config = Valid();
  config.clear_output();
  EXPECT_EQ(Check(config),
            "models/m/config.pbtxt: output: at least one output is required");
}

TEST(ValidateModelConfigTest, TensorNamesRequiredAndUnique) {
  inference::ModelConfig config = Valid();
  config.mutable_input(1)->set_name("x");
  EXPECT_EQ(Check(config),
            "models/m/config.pbtxt: input 'x': duplicate input name");
  config = Valid();
  *config.add_output() = config.output(0);
  EXPECT_EQ(Check(config),
            "models/m/config.pbtxt: output 'y': duplicate output name");
  config = Valid();
  config.mutable_output(0)->clear_name();
  EXPECT_EQ(Check(config), "models/m/config.pbtxt: output: name must be set");
  // An input and an output may share a name, as in Triton.
  config = Valid();
  config.mutable_output(0)->set_name("x");
  EXPECT_EQ(Check(config), "OK");
}

TEST(ValidateModelConfigTest, DataTypeRequired) {
  inference::ModelConfig config = Valid();
  config.mutable_input(0)->clear_data_type();
  EXPECT_EQ(Check(config),
            "models/m/config.pbtxt: input 'x': data_type must be set");
}

TEST(ValidateModelConfigTest, TypesTorchCannotHoldRejected) {
  for (inference::DataType type :
       {inference::TYPE_UINT16, inference::TYPE_UINT32, inference::TYPE_UINT64,
        inference::TYPE_STRING}) {
    inference::ModelConfig config = Valid();
    config.mutable_output(0)->set_data_type(type);
    EXPECT_EQ(Check(config), "models/m/config.pbtxt: output 'y': data_type " +
                                 inference::DataType_Name(type) +
                                 " is not supported by TorchScript models");
  }
  for (inference::DataType type :
       {inference::TYPE_BOOL, inference::TYPE_UINT8, inference::TYPE_INT8,
        inference::TYPE_INT16, inference::TYPE_INT32, inference::TYPE_INT64,
        inference::TYPE_FP16, inference::TYPE_FP32, inference::TYPE_FP64,
        inference::TYPE_BF16}) {
    inference::ModelConfig config = Valid();
    config.mutable_input(0)->set_data_type(type);
    EXPECT_EQ(Check(config), "OK") << inference::DataType_Name(type);
  }
}

TEST(ValidateModelConfigTest, DimsMustBePositiveOrMinusOne) {
  inference::ModelConfig config = Valid();
  config.mutable_input(0)->clear_dims();
  config.mutable_input(0)->add_dims(3);
  config.mutable_input(0)->add_dims(0);
  EXPECT_EQ(Check(config),
            "models/m/config.pbtxt: input 'x': dims must be positive or -1, "
            "got [3,0]");
  config = Valid();
  config.mutable_output(0)->add_dims(-2);
  EXPECT_EQ(Check(config),
            "models/m/config.pbtxt: output 'y': dims must be positive or -1, "
            "got [10,-2]");
}

TEST(ValidateModelConfigTest, EmptyDimsAllowedWithAndWithoutBatching) {
  inference::ModelConfig config = Valid();
  config.mutable_output(0)->clear_dims();
  EXPECT_EQ(Check(config), "OK");
  config.clear_dynamic_batching();
  config.set_max_batch_size(0);
  EXPECT_EQ(Check(config), "OK");
}

TEST(ValidateModelConfigTest, PreferredBatchSizeWithinMaxBatchSize) {
  inference::ModelConfig config = Valid();
  config.mutable_dynamic_batching()->add_preferred_batch_size(16);
  EXPECT_EQ(Check(config),
            "models/m/config.pbtxt: dynamic_batching.preferred_batch_size: "
            "values must be in 1..8 (max_batch_size), got 16");
  config = Valid();
  config.mutable_dynamic_batching()->add_preferred_batch_size(0);
  EXPECT_THAT(Check(config), HasSubstr("in 1..8 (max_batch_size), got 0"));
}

TEST(ValidateModelConfigTest, DynamicBatchingRequiresBatchingModel) {
  inference::ModelConfig config = Valid();
  config.set_max_batch_size(0);
  config.mutable_dynamic_batching()->clear_preferred_batch_size();
  EXPECT_EQ(Check(config),
            "models/m/config.pbtxt: dynamic_batching: requires max_batch_size "
            "> 0 (the model must batch)");
}

TEST(ValidateModelConfigTest, InstanceCountNotNegative) {
  inference::ModelConfig config = Valid();
  config.add_instance_group()->set_count(-2);
  EXPECT_EQ(Check(config),
            "models/m/config.pbtxt: instance_group[1]: count must be >= 0, got "
            "-2");
}

TEST(ValidateModelConfigTest, SpecificVersionsPositive) {
  inference::ModelConfig config = Valid();
  auto* specific = config.mutable_version_policy()->mutable_specific();
  specific->add_versions(1);
  specific->add_versions(0);
  EXPECT_EQ(Check(config),
            "models/m/config.pbtxt: version_policy.specific: versions must be "
            ">= 1, got 0");
}

TEST(ValidateModelConfigTest, LatestNeedsAtLeastOneVersion) {
  inference::ModelConfig config = Valid();
  config.mutable_version_policy()->mutable_latest()->set_num_versions(0);
  EXPECT_EQ(Check(config),
            "models/m/config.pbtxt: version_policy.latest: num_versions must "
            "be >= 1, got 0");
  config.mutable_version_policy()->mutable_all();
  EXPECT_EQ(Check(config), "OK");
}

}  // namespace
}  // namespace kiln::config

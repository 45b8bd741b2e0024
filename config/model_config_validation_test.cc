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

TEST(ValidateModelConfigTest, PreferredBatchSizeDuplicatesAllowed) {
  // Triton accepts repeats; they change nothing.
  inference::ModelConfig config = Valid();
  config.mutable_dynamic_batching()->add_preferred_batch_size(8);
  EXPECT_EQ(Check(config), "OK");
}

TEST(ValidateModelConfigTest, DefaultPriorityLevelWithinPriorityLevels) {
  inference::ModelConfig config = Valid();
  auto* batching = config.mutable_dynamic_batching();
  batching->set_priority_levels(3);
  EXPECT_EQ(Check(config),
            "models/m/config.pbtxt: dynamic_batching.default_priority_level: "
            "must be in 1..3 (priority_levels), got 0");
  batching->set_default_priority_level(4);
  EXPECT_EQ(Check(config),
            "models/m/config.pbtxt: dynamic_batching.default_priority_level: "
            "must be in 1..3 (priority_levels), got 4");
  batching->set_default_priority_level(3);
  EXPECT_EQ(Check(config), "OK");
  batching->set_default_priority_level(1);
  EXPECT_EQ(Check(config), "OK");
}

TEST(ValidateModelConfigTest, PriorityQueuePolicyLevelWithinPriorityLevels) {
  inference::ModelConfig config = Valid();
  auto* batching = config.mutable_dynamic_batching();
  batching->set_priority_levels(2);
  batching->set_default_priority_level(1);
  (*batching->mutable_priority_queue_policy())[2].set_max_queue_size(4);
  EXPECT_EQ(Check(config), "OK");
  (*batching->mutable_priority_queue_policy())[3].set_max_queue_size(4);
  EXPECT_EQ(Check(config),
            "models/m/config.pbtxt: dynamic_batching.priority_queue_policy: "
            "priority level must be in 1..2 (priority_levels), got 3");
  // The smallest offender is reported, whatever the map's order.
  (*batching->mutable_priority_queue_policy())[0].set_max_queue_size(4);
  EXPECT_THAT(Check(config),
              HasSubstr("must be in 1..2 (priority_levels), got 0"));
}

TEST(ValidateModelConfigTest, WithoutPriorityLevelsLevelFieldsAreIgnored) {
  // As in Triton: with priority_levels 0 neither field is read or checked.
  inference::ModelConfig config = Valid();
  auto* batching = config.mutable_dynamic_batching();
  batching->set_default_priority_level(5);
  (*batching->mutable_priority_queue_policy())[9].set_max_queue_size(1);
  EXPECT_EQ(Check(config), "OK");
}

TEST(ValidateModelConfigTest, PreserveOrderingAllowsOnePriorityLevel) {
  inference::ModelConfig config = Valid();
  auto* batching = config.mutable_dynamic_batching();
  batching->set_preserve_ordering(true);
  batching->set_priority_levels(2);
  batching->set_default_priority_level(1);
  EXPECT_EQ(Check(config),
            "models/m/config.pbtxt: dynamic_batching.priority_levels: must be "
            "<= 1 when preserve_ordering is true, got 2");
  batching->set_priority_levels(1);
  EXPECT_EQ(Check(config), "OK");
  batching->set_preserve_ordering(false);
  batching->set_priority_levels(2);
  EXPECT_EQ(Check(config), "OK");
}

TEST(ValidateModelConfigTest, PreserveOrderingRejectsDelayedTimeouts) {
  inference::ModelConfig config = Valid();
  auto* batching = config.mutable_dynamic_batching();
  batching->set_preserve_ordering(true);
  auto* policy = batching->mutable_default_queue_policy();
  policy->set_timeout_action(inference::ModelQueuePolicy::DELAY);
  // DELAY without a timeout never fires.
  EXPECT_EQ(Check(config), "OK");
  policy->set_default_timeout_microseconds(100);
  EXPECT_EQ(Check(config),
            "models/m/config.pbtxt: dynamic_batching.default_queue_policy: "
            "timeout_action DELAY with a default_timeout_microseconds is not "
            "allowed when preserve_ordering is true");
  policy->set_timeout_action(inference::ModelQueuePolicy::REJECT);
  EXPECT_EQ(Check(config), "OK");

  // The per-level policies too (one level, as preserve_ordering requires).
  batching->set_priority_levels(1);
  batching->set_default_priority_level(1);
  auto& level = (*batching->mutable_priority_queue_policy())[1];
  level.set_timeout_action(inference::ModelQueuePolicy::DELAY);
  level.set_default_timeout_microseconds(5);
  EXPECT_EQ(Check(config),
            "models/m/config.pbtxt: dynamic_batching.priority_queue_policy[1]: "
            "timeout_action DELAY with a default_timeout_microseconds is not "
            "allowed when preserve_ordering is true");
  // Without preserve_ordering a delayed timeout is fine.
  batching->set_preserve_ordering(false);
  EXPECT_EQ(Check(config), "OK");
}

// Valid() plus a complete warmup sample; each warmup test breaks one thing.
inference::ModelConfig ValidWithWarmup() {
  inference::ModelConfig config = Valid();
  EXPECT_TRUE(google::protobuf::TextFormat::MergeFromString(
      R"pb(
        model_warmup {
          name: "w"
          batch_size: 2
          count: 3
          inputs {
            key: "x"
            value {
              data_type: TYPE_FP32
              dims: [ 3, 5 ]
              random_data: true
            }
          }
          inputs {
            key: "s"
            value { data_type: TYPE_INT64 zero_data: true }
          }
        }
      )pb",
      &config));
  return config;
}

inference::ModelWarmup::Input& WarmupInput(inference::ModelConfig& config,
                                           const std::string& name) {
  return (*config.mutable_model_warmup(0)->mutable_inputs())[name];
}

TEST(ValidateModelConfigTest, WarmupValidConfigPasses) {
  inference::ModelConfig config = ValidWithWarmup();
  EXPECT_EQ(Check(config), "OK");
  // Neither a name nor a count is required (count 0 runs once).
  config.mutable_model_warmup(0)->clear_name();
  config.mutable_model_warmup(0)->clear_count();
  EXPECT_EQ(Check(config), "OK");
  NormalizeModelConfig("m", &config);
  EXPECT_EQ(Check(config), "OK");
}

TEST(ValidateModelConfigTest, WarmupBatchSizeWithinMaxBatchSize) {
  inference::ModelConfig config = ValidWithWarmup();
  config.mutable_model_warmup(0)->set_batch_size(9);
  EXPECT_EQ(Check(config),
            "models/m/config.pbtxt: model_warmup 'w': batch_size must be <= 8 "
            "(max_batch_size), got 9");
  config.mutable_model_warmup(0)->set_batch_size(8);
  EXPECT_EQ(Check(config), "OK");
  // 0 is valid: Triton skips such a sample, and so does Kiln's server.
  config.mutable_model_warmup(0)->set_batch_size(0);
  EXPECT_EQ(Check(config), "OK");
}

TEST(ValidateModelConfigTest, WarmupBatchSizeOneWithoutBatching) {
  inference::ModelConfig config = ValidWithWarmup();
  config.clear_dynamic_batching();
  config.set_max_batch_size(0);
  EXPECT_EQ(Check(config),
            "models/m/config.pbtxt: model_warmup 'w': batch_size must be 1 for "
            "a model that does not batch (max_batch_size 0), got 2");
  config.mutable_model_warmup(0)->set_batch_size(1);
  EXPECT_EQ(Check(config), "OK");
}

TEST(ValidateModelConfigTest, WarmupUnknownInputRejected) {
  inference::ModelConfig config = ValidWithWarmup();
  WarmupInput(config, "z").set_zero_data(true);
  EXPECT_EQ(Check(config),
            "models/m/config.pbtxt: model_warmup 'w': input 'z': not an input "
            "of the model (inputs: x, s)");
}

TEST(ValidateModelConfigTest, WarmupNeedsEveryInput) {
  inference::ModelConfig config = ValidWithWarmup();
  config.mutable_model_warmup(0)->mutable_inputs()->erase("s");
  EXPECT_EQ(Check(config),
            "models/m/config.pbtxt: model_warmup 'w': input 's': no warmup "
            "data; every input of the model needs some");
  config.mutable_model_warmup(0)->clear_inputs();
  EXPECT_THAT(Check(config), HasSubstr("input 'x': no warmup data"));
}

TEST(ValidateModelConfigTest, WarmupDataTypeMustMatchInput) {
  inference::ModelConfig config = ValidWithWarmup();
  WarmupInput(config, "x").set_data_type(inference::TYPE_FP16);
  EXPECT_EQ(Check(config),
            "models/m/config.pbtxt: model_warmup 'w': input 'x': data_type "
            "must be TYPE_FP32 (the input's data_type), got TYPE_FP16");
  WarmupInput(config, "x").clear_data_type();
  EXPECT_THAT(Check(config), HasSubstr("got TYPE_INVALID"));
}

TEST(ValidateModelConfigTest, WarmupDimsMustBeConcrete) {
  inference::ModelConfig config = ValidWithWarmup();
  WarmupInput(config, "x").set_dims(1, -1);
  EXPECT_EQ(Check(config),
            "models/m/config.pbtxt: model_warmup 'w': input 'x': dims must be "
            "concrete (every dim >= 1, no -1), got [3,-1]");
  // An empty tensor warms up nothing a real request needs.
  WarmupInput(config, "x").set_dims(1, 0);
  EXPECT_EQ(Check(config),
            "models/m/config.pbtxt: model_warmup 'w': input 'x': dims must be "
            "concrete (every dim >= 1, no -1), got [3,0]");
}

TEST(ValidateModelConfigTest, WarmupDimsMustMatchInput) {
  inference::ModelConfig config = ValidWithWarmup();
  WarmupInput(config, "x").set_dims(0, 4);
  EXPECT_EQ(Check(config),
            "models/m/config.pbtxt: model_warmup 'w': input 'x': dims must "
            "match the input's dims [3,-1] (without the batch dimension), got "
            "[4,5]");
  // No batch dimension: that is what batch_size is for.
  config = ValidWithWarmup();
  WarmupInput(config, "x").clear_dims();
  for (int64_t dim : {2, 3, 5}) WarmupInput(config, "x").add_dims(dim);
  EXPECT_THAT(Check(config), HasSubstr("[3,-1] (without the batch dimension), "
                                       "got [2,3,5]"));
  config = ValidWithWarmup();
  WarmupInput(config, "s").add_dims(1);
  EXPECT_THAT(Check(config), HasSubstr("input 's': dims must match the "
                                       "input's dims [] (without the batch "
                                       "dimension), got [1]"));
  // A -1 dim takes any size.
  config = ValidWithWarmup();
  WarmupInput(config, "x").set_dims(1, 1);
  EXPECT_EQ(Check(config), "OK");
  WarmupInput(config, "x").set_dims(1, 1000);
  EXPECT_EQ(Check(config), "OK");
}

TEST(ValidateModelConfigTest, WarmupDataSourceRequired) {
  inference::ModelConfig config = ValidWithWarmup();
  WarmupInput(config, "s").clear_input_data_type();
  EXPECT_EQ(Check(config),
            "models/m/config.pbtxt: model_warmup 'w': input 's': one of "
            "zero_data, random_data or input_data_file must be set");
  WarmupInput(config, "s").set_random_data(true);
  EXPECT_EQ(Check(config), "OK");
  WarmupInput(config, "s").set_input_data_file("s.bin");
  EXPECT_EQ(Check(config), "OK");
  WarmupInput(config, "s").set_input_data_file("sub/./s.bin");
  EXPECT_EQ(Check(config), "OK");
}

TEST(ValidateModelConfigTest, WarmupDataFileStaysInWarmupDirectory) {
  for (const std::string file :
       {"../secret.bin", "/etc/passwd", "a/../../b.bin", "a/..", ""}) {
    inference::ModelConfig config = ValidWithWarmup();
    WarmupInput(config, "x").set_input_data_file(file);
    EXPECT_EQ(Check(config),
              "models/m/config.pbtxt: model_warmup 'w': input 'x': "
              "input_data_file must be a relative path inside the model's "
              "warmup/ directory (not absolute, no '..'), got '" +
                  file + "'");
  }
  // A name that merely contains dots is fine.
  inference::ModelConfig config = ValidWithWarmup();
  WarmupInput(config, "x").set_input_data_file("x..v2.bin");
  EXPECT_EQ(Check(config), "OK");
}

TEST(ValidateModelConfigTest, UnnamedWarmupSampleIsNamedByIndex) {
  inference::ModelConfig config = ValidWithWarmup();
  inference::ModelWarmup* second = config.add_model_warmup();
  *second = config.model_warmup(0);
  second->clear_name();
  second->set_batch_size(16);
  EXPECT_EQ(Check(config),
            "models/m/config.pbtxt: model_warmup[1]: batch_size must be <= 8 "
            "(max_batch_size), got 16");
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

// Parsing, normalization, FullShape and LoadModelConfig. Validation rules are
// in model_config_validation_test.cc.
#include "config/model_config_loader.h"

#include <string>

#include "config/test_temp_dir.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace kiln::config {
namespace {

using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

// A config as Triton's PyTorch backend documentation writes them.
constexpr char kTritonResnetConfig[] = R"(
platform: "pytorch_libtorch"
max_batch_size: 8
input [
  {
    name: "INPUT__0"
    data_type: TYPE_FP32
    format: FORMAT_NCHW
    dims: [ 3, 224, 224 ]
  }
]
output [
  {
    name: "OUTPUT__0"
    data_type: TYPE_FP32
    dims: [ 1000 ]
  }
]
instance_group [ { count: 2 kind: KIND_CPU } ]
dynamic_batching {
  preferred_batch_size: [ 4, 8 ]
  max_queue_delay_microseconds: 100
}
parameters: { key: "INFERENCE_MODE" value: { string_value: "true" } }
)";

// The `backend:` spelling, no batching, two inputs. Six lines after the
// leading newline (UnknownFieldIsAWarning... counts on it).
constexpr char kBackendConfig[] = R"(
name: "bert"
backend: "pytorch"
max_batch_size: 0
input { name: "input_ids" data_type: TYPE_INT64 dims: [ 1, -1 ] }
input { name: "attention_mask" data_type: TYPE_INT64 dims: [ 1, -1 ] }
output { name: "logits" data_type: TYPE_FP32 dims: [ 1, 2 ] }
)";

TEST(ParseModelConfigTest, ParsesTritonPytorchConfig) {
  absl::StatusOr<LoadedModelConfig> loaded = ParseModelConfig(
      kTritonResnetConfig, "models/resnet/config.pbtxt", "resnet");
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  const inference::ModelConfig& config = loaded->config;
  EXPECT_THAT(loaded->warnings, IsEmpty());
  EXPECT_EQ(config.platform(), "pytorch_libtorch");
  EXPECT_EQ(config.max_batch_size(), 8);
  ASSERT_EQ(config.input_size(), 1);
  EXPECT_EQ(config.input(0).name(), "INPUT__0");
  EXPECT_EQ(config.input(0).data_type(), inference::TYPE_FP32);
  EXPECT_EQ(config.input(0).format(), inference::ModelInput::FORMAT_NCHW);
  EXPECT_THAT(config.input(0).dims(), ElementsAre(3, 224, 224));
  ASSERT_EQ(config.output_size(), 1);
  EXPECT_THAT(config.output(0).dims(), ElementsAre(1000));
  ASSERT_EQ(config.instance_group_size(), 1);
  EXPECT_EQ(config.instance_group(0).count(), 2);
  EXPECT_EQ(config.instance_group(0).kind(),
            inference::ModelInstanceGroup::KIND_CPU);
  EXPECT_THAT(config.dynamic_batching().preferred_batch_size(),
              ElementsAre(4, 8));
  EXPECT_EQ(config.dynamic_batching().max_queue_delay_microseconds(), 100u);
  EXPECT_EQ(config.parameters().at("INFERENCE_MODE").string_value(), "true");
  EXPECT_TRUE(
      ValidateModelConfig(config, "models/resnet/config.pbtxt", "resnet").ok());
}

TEST(ParseModelConfigTest, ParsesBackendForm) {
  absl::StatusOr<LoadedModelConfig> loaded =
      ParseModelConfig(kBackendConfig, "models/bert/config.pbtxt", "bert");
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ(loaded->config.backend(), "pytorch");
  EXPECT_TRUE(loaded->config.platform().empty());
  EXPECT_EQ(loaded->config.input_size(), 2);
  EXPECT_TRUE(
      ValidateModelConfig(loaded->config, "models/bert/config.pbtxt", "bert")
          .ok());
}

TEST(ParseModelConfigTest, UnknownFieldIsAWarningNamingFileLineAndField) {
  const std::string text = std::string(kBackendConfig) +
                           "future_triton_field: 3\n"
                           "input { name: \"y\" data_type: TYPE_FP32 dims: 1 "
                           "newer_input_option: true }\n";
  absl::StatusOr<LoadedModelConfig> loaded =
      ParseModelConfig(text, "models/bert/config.pbtxt", "bert");
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  ASSERT_EQ(loaded->warnings.size(), 2u);
  // kBackendConfig starts with a newline and has 6 lines, so the extra field
  // is on line 8.
  EXPECT_THAT(loaded->warnings[0],
              AllOf(HasSubstr("models/bert/config.pbtxt:8:"),
                    HasSubstr("'future_triton_field'")));
  EXPECT_THAT(loaded->warnings[1],
              AllOf(HasSubstr("models/bert/config.pbtxt:9:"),
                    HasSubstr("'newer_input_option'"),
                    HasSubstr("inference.ModelInput")));
  // Fields after an unknown one are still read.
  EXPECT_EQ(loaded->config.input_size(), 3);
}

TEST(ParseModelConfigTest, SyntaxErrorReportsFileLineAndColumn) {
  absl::StatusOr<LoadedModelConfig> loaded = ParseModelConfig(
      "name: \"m\"\nmax_batch_size: 4\ninput [ { name: \"x\" \n",
      "models/m/config.pbtxt", "m");
  ASSERT_EQ(loaded.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(loaded.status().message()),
              HasSubstr("models/m/config.pbtxt:4:"));
}

TEST(ParseModelConfigTest, WrongValueTypeIsAnError) {
  absl::StatusOr<LoadedModelConfig> loaded = ParseModelConfig(
      "name: \"m\"\nmax_batch_size: \"eight\"\n", "models/m/config.pbtxt", "m");
  ASSERT_EQ(loaded.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(
      std::string(loaded.status().message()),
      AllOf(HasSubstr("models/m/config.pbtxt:2:17:"), HasSubstr("\"eight\"")));
}

TEST(ParseModelConfigTest, UnknownEnumValueIsAnError) {
  absl::StatusOr<LoadedModelConfig> loaded = ParseModelConfig(
      "input { name: \"x\" data_type: TYPE_FP128 }", "c.pbtxt", "m");
  ASSERT_EQ(loaded.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(loaded.status().message()),
              AllOf(HasSubstr("c.pbtxt:1:"), HasSubstr("TYPE_FP128")));
}

TEST(ParseModelConfigTest, WarnsAboutFieldsKilnIgnores) {
  constexpr char kText[] = R"pb(
    platform: "pytorch_libtorch"
    max_batch_size: 4
    input {
      name: "x"
      data_type: TYPE_FP32
      dims: [ 4 ]
      reshape { shape: [ 2, 2 ] }
      is_shape_tensor: true
      allow_ragged_batch: true
      optional: true
    }
    output {
      name: "y"
      data_type: TYPE_FP32
      dims: [ 4 ]
      reshape { shape: [ 4 ] }
      label_filename: "labels.txt"
    }
    sequence_batching {}
    model_warmup { name: "w" batch_size: 1 }
    batch_input { target_name: "b" }
    batch_output { target_name: "o" }
    response_cache { enable: true }
    model_repository_agents { agents { name: "checksum" } }
    model_operations { op_library_filename: "libop.so" }
    cc_model_filenames { key: "7.5" value: "m.pt" }
    optimization {
      cuda { graphs: true }
      execution_accelerators { cpu_execution_accelerator { name: "openvino" } }
    }
    instance_group {
      name: "g"
      kind: KIND_GPU
      gpus: [ 0 ]
    }
    model_transaction_policy { decoupled: true }
  )pb";
  absl::StatusOr<LoadedModelConfig> loaded =
      ParseModelConfig(kText, "models/m/config.pbtxt", "m");
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  const std::string prefix = "config.pbtxt of model 'm': ";
  auto ignored = [&](const std::string& where, const std::string& field) {
    return prefix + where + "field '" + field +
           "' is not supported by Kiln and is ignored";
  };
  EXPECT_THAT(
      loaded->warnings,
      ::testing::UnorderedElementsAre(
          ignored("", "sequence_batching"), ignored("", "batch_input"),
          ignored("", "batch_output"), ignored("", "response_cache"),
          ignored("", "model_repository_agents"),
          ignored("", "model_operations"), ignored("", "cc_model_filenames"),
          ignored("", "optimization.cuda"),
          ignored("", "optimization.execution_accelerators"),
          ignored("", "model_transaction_policy.decoupled"),
          ignored("instance_group 'g': ", "gpus"),
          prefix + "instance_group 'g': kind KIND_GPU is not supported by "
                   "this build of Kiln; the instances run on the CPU",
          ignored("input 'x': ", "reshape"),
          ignored("input 'x': ", "is_shape_tensor"),
          ignored("input 'x': ", "allow_ragged_batch"),
          ignored("input 'x': ", "optional"),
          ignored("output 'y': ", "reshape"),
          ignored("output 'y': ", "label_filename")));
}

// Kiln runs warmup samples, so a complete one loads without a warning.
TEST(LoadModelConfigTest, WarmupLoadsWithoutWarning) {
  TestTempDir repo;
  repo.WriteFile("resnet/config.pbtxt", std::string(kTritonResnetConfig) + R"pb(
    model_warmup {
      name: "zeros"
      batch_size: 4
      count: 2
      inputs {
        key: "INPUT__0"
        value {
          data_type: TYPE_FP32
          dims: [ 3, 224, 224 ]
          zero_data: true
        }
      }
    }
  )pb");
  absl::StatusOr<LoadedModelConfig> loaded =
      LoadModelConfig((repo.path() / "resnet").string(), "resnet");
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_THAT(loaded->warnings, IsEmpty());
  ASSERT_EQ(loaded->config.model_warmup_size(), 1);
  EXPECT_EQ(loaded->config.model_warmup(0).batch_size(), 4u);
}

TEST(ParseModelConfigTest, EnsembleSchedulingIsWarned) {
  absl::StatusOr<LoadedModelConfig> loaded = ParseModelConfig(
      "backend: \"pytorch\" ensemble_scheduling {}", "c.pbtxt", "m");
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_THAT(loaded->warnings,
              ElementsAre("config.pbtxt of model 'm': field "
                          "'ensemble_scheduling' is not supported by Kiln and "
                          "is ignored"));
}

TEST(NormalizeModelConfigTest, FillsDefaults) {
  absl::StatusOr<LoadedModelConfig> loaded =
      ParseModelConfig(kBackendConfig, "c.pbtxt", "bert");
  ASSERT_TRUE(loaded.ok());
  inference::ModelConfig config = loaded->config;
  config.clear_name();
  NormalizeModelConfig("bert", &config);
  EXPECT_EQ(config.name(), "bert");
  EXPECT_EQ(config.platform(), "pytorch_libtorch");
  EXPECT_EQ(config.backend(), "pytorch");
  ASSERT_TRUE(config.version_policy().has_latest());
  EXPECT_EQ(config.version_policy().latest().num_versions(), 1u);
  ASSERT_EQ(config.instance_group_size(), 1);
  EXPECT_EQ(config.instance_group(0).name(), "bert_0");
  EXPECT_EQ(config.instance_group(0).kind(),
            inference::ModelInstanceGroup::KIND_CPU);
  EXPECT_EQ(config.instance_group(0).count(), 1);
  EXPECT_FALSE(config.has_dynamic_batching());
}

TEST(NormalizeModelConfigTest, KeepsWhatIsSetAndFixesGroups) {
  inference::ModelConfig config;
  config.set_name("m");
  config.set_platform("pytorch_libtorch");
  config.set_max_batch_size(8);
  config.mutable_version_policy()->mutable_all();
  config.mutable_dynamic_batching();  // preferred_batch_size empty
  auto* first = config.add_instance_group();
  first->set_count(0);
  auto* second = config.add_instance_group();
  second->set_name("big");
  second->set_count(3);
  second->set_kind(inference::ModelInstanceGroup::KIND_CPU);

  NormalizeModelConfig("m", &config);
  EXPECT_EQ(config.backend(), "pytorch");
  EXPECT_TRUE(config.version_policy().has_all());
  EXPECT_TRUE(config.dynamic_batching().preferred_batch_size().empty());
  ASSERT_EQ(config.instance_group_size(), 2);
  EXPECT_EQ(config.instance_group(0).name(), "m_0");
  EXPECT_EQ(config.instance_group(0).count(), 1);
  EXPECT_EQ(config.instance_group(0).kind(),
            inference::ModelInstanceGroup::KIND_CPU);
  EXPECT_EQ(config.instance_group(1).name(), "big");
  EXPECT_EQ(config.instance_group(1).count(), 3);

  // Idempotent.
  inference::ModelConfig again = config;
  NormalizeModelConfig("m", &again);
  EXPECT_EQ(again.SerializeAsString(), config.SerializeAsString());
}

TEST(FullShapeTest, PrependsBatchDimensionOnlyWhenBatching) {
  inference::ModelConfig config;
  inference::ModelInput input;
  input.add_dims(3);
  input.add_dims(-1);
  config.set_max_batch_size(8);
  EXPECT_THAT(FullShape(config, input.dims()), ElementsAre(-1, 3, -1));
  config.set_max_batch_size(0);
  EXPECT_THAT(FullShape(config, input.dims()), ElementsAre(3, -1));
  // A per-item scalar in a batching model is a vector of the batch.
  input.clear_dims();
  config.set_max_batch_size(4);
  EXPECT_THAT(FullShape(config, input.dims()), ElementsAre(-1));
}

TEST(LoadModelConfigTest, LoadsValidatesAndNormalizes) {
  TestTempDir repo;
  repo.WriteFile("resnet/config.pbtxt",
                 std::string(kTritonResnetConfig) + "unknown_thing: 1\n");
  const std::string model_dir = (repo.path() / "resnet").string();
  absl::StatusOr<LoadedModelConfig> loaded =
      LoadModelConfig(model_dir, "resnet");
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ(loaded->config.name(), "resnet");
  EXPECT_EQ(loaded->config.backend(), "pytorch");
  EXPECT_EQ(loaded->config.instance_group(0).name(), "resnet_0");
  EXPECT_EQ(loaded->config.instance_group(0).count(), 2);
  ASSERT_EQ(loaded->warnings.size(), 1u);
  EXPECT_THAT(loaded->warnings[0],
              AllOf(HasSubstr(model_dir + "/config.pbtxt:"),
                    HasSubstr("'unknown_thing'")));
}

TEST(LoadModelConfigTest, MissingFileIsNotFound) {
  TestTempDir repo;
  repo.MakeDir("m");
  const std::string model_dir = (repo.path() / "m").string();
  absl::StatusOr<LoadedModelConfig> loaded = LoadModelConfig(model_dir, "m");
  ASSERT_EQ(loaded.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(loaded.status().message(),
            "model 'm': no config.pbtxt in " + model_dir);
}

TEST(LoadModelConfigTest, InvalidConfigIsInvalidArgumentNamingTheFile) {
  TestTempDir repo;
  repo.WriteFile("m/config.pbtxt", R"pb(
    name: "other"
    backend: "pytorch"
    input {
      name: "x"
      data_type: TYPE_FP32
      dims: [ 4 ]
    }
    output {
      name: "y"
      data_type: TYPE_FP32
      dims: [ 4 ]
    }
  )pb");
  const std::string model_dir = (repo.path() / "m").string();
  absl::StatusOr<LoadedModelConfig> loaded = LoadModelConfig(model_dir, "m");
  ASSERT_EQ(loaded.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(loaded.status().message()),
              AllOf(HasSubstr(model_dir + "/config.pbtxt: name:"),
                    HasSubstr("'other'")));
}

TEST(LoadModelConfigTest, SyntaxErrorIsInvalidArgument) {
  TestTempDir repo;
  repo.WriteFile("m/config.pbtxt", "backend: \"pytorch\"\ninput [ {\n");
  absl::StatusOr<LoadedModelConfig> loaded =
      LoadModelConfig((repo.path() / "m").string(), "m");
  ASSERT_EQ(loaded.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(loaded.status().message()),
              HasSubstr("config.pbtxt:3:"));
}

}  // namespace
}  // namespace kiln::config

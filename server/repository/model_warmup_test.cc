#include "server/repository/model_warmup.h"

#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "config/test_temp_dir.h"
#include "gmock/gmock.h"
#include "google/protobuf/text_format.h"
#include "gtest/gtest.h"

namespace kiln::server {
namespace {

using engine::DType;
using engine::Tensor;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

inference::ModelConfig ParseConfig(const std::string& text) {
  inference::ModelConfig config;
  EXPECT_TRUE(google::protobuf::TextFormat::ParseFromString(text, &config))
      << text;
  return config;
}

template <typename T>
std::vector<T> Values(const Tensor& t) {
  std::vector<T> out(static_cast<size_t>(t.num_elements()));
  EXPECT_EQ(t.byte_size, out.size() * sizeof(T));
  std::memcpy(out.data(), t.data, t.byte_size);
  return out;
}

std::string Bytes(const Tensor& t) {
  return std::string(static_cast<const char*>(t.data), t.byte_size);
}

std::string Int32File(const std::vector<int32_t>& values) {
  return std::string(reinterpret_cast<const char*>(values.data()),
                     values.size() * sizeof(int32_t));
}

// A batching model with one INT32 input 'x' of dims [3] whose warmup reads
// `file`.
inference::ModelConfig FileConfig(const std::string& file, int batch_size) {
  return ParseConfig(R"pb(
    name: "m"
    max_batch_size: 8
    input { name: "x" data_type: TYPE_INT32 dims: [ 3 ] }
    model_warmup {
      name: "w"
      batch_size: )pb" + std::to_string(batch_size) + R"pb(
      inputs {
        key: "x"
        value { data_type: TYPE_INT32 dims: [ 3 ] input_data_file: ")pb" +
                     file + R"pb(" }
      }
    })pb");
}

TEST(ModelWarmupTest, ZeroDataHasBatchedShapeDtypeAndZeros) {
  config::TestTempDir dir;
  const inference::ModelConfig config = ParseConfig(R"pb(
    name: "m"
    max_batch_size: 8
    input { name: "x" data_type: TYPE_FP32 dims: [ 3, -1 ] }
    model_warmup {
      name: "zeros"
      batch_size: 4
      inputs {
        key: "x"
        value { data_type: TYPE_FP32 dims: [ 3, 5 ] zero_data: true }
      }
    })pb");
  auto samples = MakeWarmupSamples(config, dir.path().string());
  ASSERT_TRUE(samples.ok()) << samples.status();
  ASSERT_EQ(samples->size(), 1u);
  const WarmupSample& sample = (*samples)[0];
  EXPECT_EQ(sample.name, "zeros");
  EXPECT_EQ(sample.batch_size, 4);
  EXPECT_EQ(sample.count, 1);
  ASSERT_EQ(sample.inputs.size(), 1u);
  const Tensor& x = sample.inputs[0];
  EXPECT_EQ(x.dtype, DType::kFloat32);
  EXPECT_THAT(x.shape, ElementsAre(4, 3, 5));
  EXPECT_EQ(x.byte_size, 4u * 3 * 5 * sizeof(float));
  for (float v : Values<float>(x)) EXPECT_EQ(v, 0.0f);
}

TEST(ModelWarmupTest, RandomDataIsReproducibleAndInRange) {
  config::TestTempDir dir;
  const inference::ModelConfig config = ParseConfig(R"pb(
    name: "m"
    max_batch_size: 4
    input { name: "f32" data_type: TYPE_FP32 dims: [ 64 ] }
    input { name: "f64" data_type: TYPE_FP64 dims: [ 64 ] }
    input { name: "f16" data_type: TYPE_FP16 dims: [ 64 ] }
    input { name: "bf16" data_type: TYPE_BF16 dims: [ 64 ] }
    input { name: "i64" data_type: TYPE_INT64 dims: [ 64 ] }
    input { name: "i32" data_type: TYPE_INT32 dims: [ 64 ] }
    input { name: "u8" data_type: TYPE_UINT8 dims: [ 64 ] }
    input { name: "b" data_type: TYPE_BOOL dims: [ 64 ] }
    model_warmup {
      name: "rand"
      batch_size: 2
      inputs {
        key: "f32"
        value { data_type: TYPE_FP32 dims: [ 64 ] random_data: true }
      }
      inputs {
        key: "f64"
        value { data_type: TYPE_FP64 dims: [ 64 ] random_data: true }
      }
      inputs {
        key: "f16"
        value { data_type: TYPE_FP16 dims: [ 64 ] random_data: true }
      }
      inputs {
        key: "bf16"
        value { data_type: TYPE_BF16 dims: [ 64 ] random_data: true }
      }
      inputs {
        key: "i64"
        value { data_type: TYPE_INT64 dims: [ 64 ] random_data: true }
      }
      inputs {
        key: "i32"
        value { data_type: TYPE_INT32 dims: [ 64 ] random_data: true }
      }
      inputs {
        key: "u8"
        value { data_type: TYPE_UINT8 dims: [ 64 ] random_data: true }
      }
      inputs {
        key: "b"
        value { data_type: TYPE_BOOL dims: [ 64 ] random_data: true }
      }
    })pb");
  auto first = MakeWarmupSamples(config, dir.path().string());
  auto second = MakeWarmupSamples(config, dir.path().string());
  ASSERT_TRUE(first.ok()) << first.status();
  ASSERT_TRUE(second.ok()) << second.status();
  const std::vector<Tensor>& a = (*first)[0].inputs;
  const std::vector<Tensor>& b = (*second)[0].inputs;
  ASSERT_EQ(a.size(), 8u);
  ASSERT_EQ(b.size(), 8u);
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_THAT(a[i].shape, ElementsAre(2, 64));
    EXPECT_EQ(Bytes(a[i]), Bytes(b[i])) << "input " << i;
    EXPECT_NE(Bytes(a[i]), std::string(a[i].byte_size, '\0'))
        << "input " << i << " is all zeros";
  }

  for (float v : Values<float>(a[0])) {
    EXPECT_GE(v, 0.0f);
    EXPECT_LT(v, 1.0f);
  }
  for (double v : Values<double>(a[1])) {
    EXPECT_GE(v, 0.0);
    EXPECT_LT(v, 1.0);
  }
  // Non-negative halves below 1.0 (0x3C00) and bfloat16s below 1.0 (0x3F80).
  for (uint16_t bits : Values<uint16_t>(a[2])) EXPECT_LT(bits, 0x3C00);
  for (uint16_t bits : Values<uint16_t>(a[3])) EXPECT_LT(bits, 0x3F80);
  for (int64_t v : Values<int64_t>(a[4])) EXPECT_TRUE(v == 0 || v == 1) << v;
  for (int32_t v : Values<int32_t>(a[5])) EXPECT_TRUE(v == 0 || v == 1) << v;
  for (uint8_t v : Values<uint8_t>(a[6])) EXPECT_LE(v, 1);
  for (uint8_t v : Values<uint8_t>(a[7])) EXPECT_LE(v, 1);
}

TEST(ModelWarmupTest, FileDataIsReplicatedPerBatchItem) {
  config::TestTempDir dir;
  dir.WriteFile("warmup/x.bin", Int32File({7, -2, 9}));
  auto samples =
      MakeWarmupSamples(FileConfig("x.bin", 3), dir.path().string());
  ASSERT_TRUE(samples.ok()) << samples.status();
  const Tensor& x = (*samples)[0].inputs[0];
  EXPECT_EQ(x.dtype, DType::kInt32);
  EXPECT_THAT(x.shape, ElementsAre(3, 3));
  EXPECT_THAT(Values<int32_t>(x), ElementsAre(7, -2, 9, 7, -2, 9, 7, -2, 9));
}

TEST(ModelWarmupTest, FileInASubfolderOfWarmupIsAccepted) {
  config::TestTempDir dir;
  dir.WriteFile("warmup/data/x.bin", Int32File({1, 2, 3}));
  auto samples =
      MakeWarmupSamples(FileConfig("data/x.bin", 1), dir.path().string());
  ASSERT_TRUE(samples.ok()) << samples.status();
  EXPECT_THAT(Values<int32_t>((*samples)[0].inputs[0]), ElementsAre(1, 2, 3));
}

TEST(ModelWarmupTest, ShortFileIsAnErrorNamingTheSizes) {
  config::TestTempDir dir;
  dir.WriteFile("warmup/x.bin", Int32File({7, -2}));
  auto samples =
      MakeWarmupSamples(FileConfig("x.bin", 2), dir.path().string());
  ASSERT_FALSE(samples.ok());
  EXPECT_EQ(samples.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(samples.status().message(),
              HasSubstr("model 'm' warmup 'w' input 'x'"));
  EXPECT_THAT(samples.status().message(), HasSubstr("has 8 bytes"));
  EXPECT_THAT(samples.status().message(), HasSubstr("expected 12"));
}

TEST(ModelWarmupTest, LongerFileUsesItsLeadingBytesAsTritonDoes) {
  config::TestTempDir dir;
  dir.WriteFile("warmup/x.bin", Int32File({1, 2, 3, 4, 5, 6}));
  auto samples =
      MakeWarmupSamples(FileConfig("x.bin", 2), dir.path().string());
  ASSERT_TRUE(samples.ok()) << samples.status();
  EXPECT_THAT(Values<int32_t>((*samples)[0].inputs[0]),
              ElementsAre(1, 2, 3, 1, 2, 3));
}

TEST(ModelWarmupTest, MissingFileIsNotFound) {
  config::TestTempDir dir;
  dir.MakeDir("warmup");
  auto samples =
      MakeWarmupSamples(FileConfig("absent.bin", 1), dir.path().string());
  ASSERT_FALSE(samples.ok());
  EXPECT_EQ(samples.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(samples.status().message(),
              HasSubstr("model 'm' warmup 'w' input 'x'"));
  EXPECT_THAT(samples.status().message(), HasSubstr("absent.bin"));
}

TEST(ModelWarmupTest, FilePathMayNotEscapeTheWarmupFolder) {
  config::TestTempDir dir;
  // Right-sized files outside the warmup folder, so only the path is wrong.
  dir.WriteFile("outside.bin", Int32File({1, 2, 3}));
  dir.WriteFile("warmup/inside.bin", Int32File({1, 2, 3}));
  const std::string outside = (dir.path() / "outside.bin").string();
  for (const std::string& path :
       {std::string("../outside.bin"), std::string("sub/../../outside.bin"),
        outside, std::string(""), std::string(".")}) {
    auto samples = MakeWarmupSamples(FileConfig(path, 1), dir.path().string());
    ASSERT_FALSE(samples.ok()) << path;
    EXPECT_EQ(samples.status().code(), absl::StatusCode::kInvalidArgument)
        << path;
    EXPECT_THAT(samples.status().message(),
                HasSubstr("model 'm' warmup 'w' input 'x'"));
    EXPECT_THAT(samples.status().message(), HasSubstr("warmup folder"))
        << path;
  }

  // A symlink inside the folder that leads out of it.
  std::error_code ec;
  std::filesystem::create_symlink(dir.path() / "outside.bin",
                                  dir.path() / "warmup" / "link.bin", ec);
  ASSERT_FALSE(ec) << ec.message();
  auto linked = MakeWarmupSamples(FileConfig("link.bin", 1), dir.path().string());
  ASSERT_FALSE(linked.ok());
  EXPECT_THAT(linked.status().message(), HasSubstr("warmup folder"));

  // A path that climbs out is refused even when it comes back in.
  auto back_in = MakeWarmupSamples(FileConfig("../warmup/inside.bin", 1),
                                   dir.path().string());
  ASSERT_FALSE(back_in.ok());
  EXPECT_THAT(back_in.status().message(), HasSubstr("warmup folder"));
}

TEST(ModelWarmupTest, NoBatchDimWhenMaxBatchSizeIsZero) {
  config::TestTempDir dir;
  const inference::ModelConfig config = ParseConfig(R"pb(
    name: "m"
    max_batch_size: 0
    input { name: "x" data_type: TYPE_INT64 dims: [ 2, 3 ] }
    model_warmup {
      name: "w"
      batch_size: 1
      inputs {
        key: "x"
        value { data_type: TYPE_INT64 dims: [ 2, 3 ] zero_data: true }
      }
    })pb");
  auto samples = MakeWarmupSamples(config, dir.path().string());
  ASSERT_TRUE(samples.ok()) << samples.status();
  EXPECT_EQ((*samples)[0].batch_size, 1);
  EXPECT_THAT((*samples)[0].inputs[0].shape, ElementsAre(2, 3));

  inference::ModelConfig batched = config;
  batched.mutable_model_warmup(0)->set_batch_size(2);
  auto refused = MakeWarmupSamples(batched, dir.path().string());
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(refused.status().message(), HasSubstr("model 'm' warmup 'w'"));
  EXPECT_THAT(refused.status().message(), HasSubstr("max_batch_size 0"));
}

TEST(ModelWarmupTest, CountZeroMeansOnce) {
  config::TestTempDir dir;
  inference::ModelConfig config = ParseConfig(R"pb(
    name: "m"
    max_batch_size: 2
    input { name: "x" data_type: TYPE_FP32 dims: [ 1 ] }
    model_warmup {
      name: "default"
      batch_size: 1
      inputs {
        key: "x"
        value { data_type: TYPE_FP32 dims: [ 1 ] zero_data: true }
      }
    })pb");
  *config.add_model_warmup() = config.model_warmup(0);
  config.mutable_model_warmup(1)->set_name("three");
  config.mutable_model_warmup(1)->set_count(3);
  auto samples = MakeWarmupSamples(config, dir.path().string());
  ASSERT_TRUE(samples.ok()) << samples.status();
  ASSERT_EQ(samples->size(), 2u);
  EXPECT_EQ((*samples)[0].name, "default");
  EXPECT_EQ((*samples)[0].count, 1);
  EXPECT_EQ((*samples)[1].name, "three");
  EXPECT_EQ((*samples)[1].count, 3);
}

TEST(ModelWarmupTest, BatchSizeZeroIsSkippedAsTritonSkipsIt) {
  config::TestTempDir dir;
  const inference::ModelConfig config = ParseConfig(R"pb(
    name: "m"
    max_batch_size: 2
    input { name: "x" data_type: TYPE_FP32 dims: [ 1 ] }
    model_warmup {
      name: "no_batch_size"
      inputs {
        key: "x"
        value { data_type: TYPE_FP32 dims: [ 1 ] zero_data: true }
      }
    })pb");
  auto samples = MakeWarmupSamples(config, dir.path().string());
  ASSERT_TRUE(samples.ok()) << samples.status();
  EXPECT_TRUE(samples->empty());
}

TEST(ModelWarmupTest, InputsFollowConfigOrder) {
  config::TestTempDir dir;
  const inference::ModelConfig config = ParseConfig(R"pb(
    name: "m"
    max_batch_size: 2
    input { name: "b" data_type: TYPE_INT64 dims: [ 4 ] }
    input { name: "a" data_type: TYPE_FP32 dims: [ 2 ] }
    input { name: "c" data_type: TYPE_BOOL dims: [ 1 ] }
    model_warmup {
      name: "w"
      batch_size: 1
      inputs {
        key: "a"
        value { data_type: TYPE_FP32 dims: [ 2 ] zero_data: true }
      }
      inputs {
        key: "c"
        value { data_type: TYPE_BOOL dims: [ 1 ] random_data: true }
      }
      inputs {
        key: "b"
        value { data_type: TYPE_INT64 dims: [ 4 ] zero_data: true }
      }
    })pb");
  auto samples = MakeWarmupSamples(config, dir.path().string());
  ASSERT_TRUE(samples.ok()) << samples.status();
  const std::vector<Tensor>& inputs = (*samples)[0].inputs;
  ASSERT_EQ(inputs.size(), 3u);
  EXPECT_EQ(inputs[0].dtype, DType::kInt64);
  EXPECT_THAT(inputs[0].shape, ElementsAre(1, 4));
  EXPECT_EQ(inputs[1].dtype, DType::kFloat32);
  EXPECT_THAT(inputs[1].shape, ElementsAre(1, 2));
  EXPECT_EQ(inputs[2].dtype, DType::kBool);
  EXPECT_THAT(inputs[2].shape, ElementsAre(1, 1));
}

// Each case breaks one rule of a valid one-input config; the error must name
// the model, the entry and (where there is one) the input.
TEST(ModelWarmupTest, InvalidEntriesAreRefusedWithTheirNames) {
  config::TestTempDir dir;
  struct Case {
    const char* what;
    const char* config_input;
    const char* warmup;
    const char* message;
  };
  const Case cases[] = {
      {"unknown input", R"pb(name: "x" data_type: TYPE_FP32 dims: [ 3 ])pb",
       R"pb(inputs { key: "x" value { data_type: TYPE_FP32 dims: [ 3 ] zero_data: true } }
            inputs { key: "y" value { data_type: TYPE_FP32 dims: [ 3 ] zero_data: true } })pb",
       "input 'y' is not an input of the model"},
      {"missing input", R"pb(name: "x" data_type: TYPE_FP32 dims: [ 3 ])pb", "",
       "input 'x' of the model has no warmup data"},
      {"data type", R"pb(name: "x" data_type: TYPE_FP32 dims: [ 3 ])pb",
       R"pb(inputs { key: "x" value { data_type: TYPE_INT32 dims: [ 3 ] zero_data: true } })pb",
       "input 'x': expected data_type FP32, got INT32"},
      {"variable dim", R"pb(name: "x" data_type: TYPE_FP32 dims: [ -1 ])pb",
       R"pb(inputs { key: "x" value { data_type: TYPE_FP32 dims: [ -1 ] zero_data: true } })pb",
       "input 'x': warmup dims must all be > 0, got [-1]"},
      {"dims mismatch", R"pb(name: "x" data_type: TYPE_FP32 dims: [ 3, -1 ])pb",
       R"pb(inputs { key: "x" value { data_type: TYPE_FP32 dims: [ 4, 2 ] zero_data: true } })pb",
       "input 'x': expected dims [3,-1] (without the batch dim), got [4,2]"},
      {"rank mismatch", R"pb(name: "x" data_type: TYPE_FP32 dims: [ 3 ])pb",
       R"pb(inputs { key: "x" value { data_type: TYPE_FP32 dims: [ 1, 3 ] zero_data: true } })pb",
       "input 'x': expected dims [3]"},
      {"no data", R"pb(name: "x" data_type: TYPE_FP32 dims: [ 3 ])pb",
       R"pb(inputs { key: "x" value { data_type: TYPE_FP32 dims: [ 3 ] } })pb",
       "input 'x': set one of zero_data, random_data or input_data_file"},
  };
  for (const Case& c : cases) {
    const inference::ModelConfig config =
        ParseConfig(std::string(R"pb(name: "m" max_batch_size: 4 input {)pb") +
                    c.config_input + R"pb(} model_warmup { name: "w" batch_size: 1 )pb" +
                    c.warmup + "}");
    auto samples = MakeWarmupSamples(config, dir.path().string());
    ASSERT_FALSE(samples.ok()) << c.what;
    EXPECT_EQ(samples.status().code(), absl::StatusCode::kInvalidArgument)
        << c.what;
    EXPECT_THAT(samples.status().message(), HasSubstr("model 'm' warmup 'w'"))
        << c.what;
    EXPECT_THAT(samples.status().message(), HasSubstr(c.message)) << c.what;
  }
}

TEST(ModelWarmupTest, BatchSizeAboveMaxBatchSizeIsRefused) {
  config::TestTempDir dir;
  const inference::ModelConfig config = ParseConfig(R"pb(
    name: "m"
    max_batch_size: 2
    input { name: "x" data_type: TYPE_FP32 dims: [ 1 ] }
    model_warmup {
      name: "w"
      batch_size: 3
      inputs {
        key: "x"
        value { data_type: TYPE_FP32 dims: [ 1 ] zero_data: true }
      }
    })pb");
  auto samples = MakeWarmupSamples(config, dir.path().string());
  ASSERT_FALSE(samples.ok());
  EXPECT_EQ(samples.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(samples.status().message(),
              HasSubstr("model 'm' warmup 'w': batch_size 3 exceeds "
                        "max_batch_size 2"));
}

TEST(ModelWarmupTest, NoWarmupEntriesGiveNoSamples) {
  config::TestTempDir dir;
  const inference::ModelConfig config = ParseConfig(R"pb(
    name: "m"
    input { name: "x" data_type: TYPE_FP32 dims: [ 1 ] })pb");
  auto samples = MakeWarmupSamples(config, dir.path().string());
  ASSERT_TRUE(samples.ok()) << samples.status();
  EXPECT_TRUE(samples->empty());
}

}  // namespace
}  // namespace kiln::server

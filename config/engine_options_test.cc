#include "config/engine_options.h"

#include <map>
#include <optional>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace kiln::config {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;

using Env = std::map<std::string, std::string>;

inference::ModelConfig Config(const std::map<std::string, std::string>& params,
                              const std::string& name = "resnet50") {
  inference::ModelConfig config;
  config.set_name(name);
  for (const auto& [key, value] : params) {
    (*config.mutable_parameters())[key].set_string_value(value);
  }
  return config;
}

absl::StatusOr<EngineOptions> Resolve(
    const std::map<std::string, std::string>& params, const Env& env = {}) {
  return ResolveEngineOptions(
      Config(params),
      [&env](const std::string& name) -> std::optional<std::string> {
        auto it = env.find(name);
        if (it == env.end()) return std::nullopt;
        return it->second;
      });
}

// The InvalidArgument message of a resolution that must fail.
std::string Error(const std::map<std::string, std::string>& params,
                  const Env& env = {}) {
  absl::StatusOr<EngineOptions> options = Resolve(params, env);
  if (options.ok()) return "OK";
  EXPECT_EQ(options.status().code(), absl::StatusCode::kInvalidArgument);
  return std::string(options.status().message());
}

TEST(EngineOptionsTest, BatchBucketsParseFromConfigOrEnvironment) {
  absl::StatusOr<EngineOptions> options = Resolve({{"KILN_BATCH_BUCKETS", "1, 2,4,8"}});
  ASSERT_TRUE(options.ok()) << options.status();
  EXPECT_EQ(options->batch_buckets, (std::vector<int64_t>{1, 2, 4, 8}));
  EXPECT_EQ(options->sources.at("batch_buckets"), "parameter");
  options = Resolve({}, {{"KILN_BATCH_BUCKETS", "4,16"}});
  ASSERT_TRUE(options.ok()) << options.status();
  EXPECT_EQ(options->batch_buckets, (std::vector<int64_t>{4, 16}));
  EXPECT_EQ(options->sources.at("batch_buckets"), "environment");
  EXPECT_THAT(DescribeEngineOptions(*options), HasSubstr("batch_buckets=4,16 (environment)"));
}

TEST(EngineOptionsTest, BadBatchBucketsAreRefused) {
  EXPECT_THAT(Error({{"KILN_BATCH_BUCKETS", "4,2"}}),
              AllOf(HasSubstr("config parameter KILN_BATCH_BUCKETS"),
                    HasSubstr("increasing positive batch sizes"), HasSubstr("got '4,2'")));
  EXPECT_THAT(Error({{"KILN_BATCH_BUCKETS", "0,1"}}), HasSubstr("got '0,1'"));
  EXPECT_THAT(Error({{"KILN_BATCH_BUCKETS", "two"}}), HasSubstr("got 'two'"));
}

TEST(EngineOptionsTest, Defaults) {
  absl::StatusOr<EngineOptions> options = Resolve({});
  ASSERT_TRUE(options.ok()) << options.status();
  EXPECT_EQ(options->optimization_level, 3);
  EXPECT_EQ(options->precision, Precision::kAuto);
  EXPECT_TRUE(options->accuracy_check);
  EXPECT_EQ(options->plan_cache_size, 16);
  EXPECT_EQ(options->intra_op_threads, 0);
  EXPECT_EQ(options->inter_op_threads, 0);
  EXPECT_TRUE(options->batch_buckets.empty());
  EXPECT_FALSE(options->async_compile);
  ASSERT_EQ(options->sources.size(), 8u);
  for (const auto& [field, source] : options->sources) {
    EXPECT_EQ(source, "default") << field;
  }
}

TEST(EngineOptionsTest, EachKeyFromConfig) {
  absl::StatusOr<EngineOptions> options = Resolve({
      {"KILN_OPT_LEVEL", "1"},
      {"KILN_PRECISION", "bf16"},  // level 1 + bf16 is allowed
      {"KILN_ACCURACY_CHECK", "false"},
      {"KILN_PLAN_CACHE_SIZE", "4"},
      {"KILN_BATCH_BUCKETS", "2,4"},
      {"KILN_INTRA_OP_THREADS", "8"},
      {"KILN_INTER_OP_THREADS", "2"},
      {"KILN_ASYNC_COMPILE", "true"},
  });
  ASSERT_TRUE(options.ok()) << options.status();
  EXPECT_EQ(options->optimization_level, 1);
  EXPECT_EQ(options->precision, Precision::kBf16);
  EXPECT_FALSE(options->accuracy_check);
  EXPECT_EQ(options->plan_cache_size, 4);
  EXPECT_EQ(options->batch_buckets, (std::vector<int64_t>{2, 4}));
  EXPECT_EQ(options->intra_op_threads, 8);
  EXPECT_EQ(options->inter_op_threads, 2);
  EXPECT_TRUE(options->async_compile);
  for (const auto& [field, source] : options->sources) {
    EXPECT_EQ(source, "parameter") << field;
  }
}

TEST(EngineOptionsTest, EachKeyFromEnvironment) {
  absl::StatusOr<EngineOptions> options = Resolve(
      {}, {
              {"KILN_OPT_LEVEL", "2"},
              {"KILN_PRECISION", "fp32"},
              {"KILN_ACCURACY_CHECK", "0"},
              {"KILN_PLAN_CACHE_SIZE", "32"},
              {"KILN_BATCH_BUCKETS", "8"},
              {"KILN_INTRA_OP_THREADS", "3"},
              {"KILN_INTER_OP_THREADS", "1"},
              {"KILN_ASYNC_COMPILE", "1"},
          });
  ASSERT_TRUE(options.ok()) << options.status();
  EXPECT_EQ(options->optimization_level, 2);
  EXPECT_EQ(options->precision, Precision::kFp32);
  EXPECT_FALSE(options->accuracy_check);
  EXPECT_EQ(options->plan_cache_size, 32);
  EXPECT_EQ(options->batch_buckets, (std::vector<int64_t>{8}));
  EXPECT_EQ(options->intra_op_threads, 3);
  EXPECT_EQ(options->inter_op_threads, 1);
  EXPECT_TRUE(options->async_compile);
  for (const auto& [field, source] : options->sources) {
    EXPECT_EQ(source, "environment") << field;
  }
}

TEST(EngineOptionsTest, ConfigBeatsEnvironment) {
  absl::StatusOr<EngineOptions> options =
      Resolve({{"KILN_PRECISION", "fp32"}, {"KILN_PLAN_CACHE_SIZE", "2"}},
              {{"KILN_PRECISION", "bf16"},
               {"KILN_PLAN_CACHE_SIZE", "64"},
               {"KILN_OPT_LEVEL", "2"}});
  ASSERT_TRUE(options.ok()) << options.status();
  EXPECT_EQ(options->precision, Precision::kFp32);
  EXPECT_EQ(options->sources.at("precision"), "parameter");
  EXPECT_EQ(options->plan_cache_size, 2);
  EXPECT_EQ(options->sources.at("plan_cache_size"), "parameter");
  EXPECT_EQ(options->optimization_level, 2);
  EXPECT_EQ(options->sources.at("opt_level"), "environment");
}

TEST(EngineOptionsTest, CaseInsensitiveAndTrimmed) {
  absl::StatusOr<EngineOptions> options =
      Resolve({{"KILN_PRECISION", " BF16 "},
               {"KILN_ACCURACY_CHECK", "\tFalse\n"},
               {"KILN_OPT_LEVEL", " 2 "}});
  ASSERT_TRUE(options.ok()) << options.status();
  EXPECT_EQ(options->precision, Precision::kBf16);
  EXPECT_FALSE(options->accuracy_check);
  EXPECT_EQ(options->optimization_level, 2);
}

TEST(EngineOptionsTest, EmptyEnvironmentVariableIsUnset) {
  absl::StatusOr<EngineOptions> options =
      Resolve({}, {{"KILN_PRECISION", ""}, {"KILN_OPT_LEVEL", "  "}});
  ASSERT_TRUE(options.ok()) << options.status();
  EXPECT_EQ(options->precision, Precision::kAuto);
  EXPECT_EQ(options->optimization_level, 3);
  EXPECT_EQ(options->sources.at("precision"), "default");
}

TEST(EngineOptionsTest, TritonThreadSpellings) {
  absl::StatusOr<EngineOptions> options = Resolve(
      {{"INTRA_OP_THREAD_COUNT", "6"}, {"INTER_OP_THREAD_COUNT", "2"}},
      {{"KILN_INTRA_OP_THREADS", "9"}});
  ASSERT_TRUE(options.ok()) << options.status();
  EXPECT_EQ(options->intra_op_threads, 6);
  EXPECT_EQ(options->sources.at("intra_op_threads"), "parameter");
  EXPECT_EQ(options->inter_op_threads, 2);
}

TEST(EngineOptionsTest, KilnSpellingBeatsTritonInConfig) {
  absl::StatusOr<EngineOptions> options =
      Resolve({{"INTRA_OP_THREAD_COUNT", "6"},
               {"KILN_INTRA_OP_THREADS", "4"},
               {"INTER_OP_THREAD_COUNT", "3"},
               {"KILN_INTER_OP_THREADS", "1"}});
  ASSERT_TRUE(options.ok()) << options.status();
  EXPECT_EQ(options->intra_op_threads, 4);
  EXPECT_EQ(options->inter_op_threads, 1);
}

TEST(EngineOptionsTest, DisableOptimizedExecution) {
  absl::StatusOr<EngineOptions> disabled =
      Resolve({{"DISABLE_OPTIMIZED_EXECUTION", "true"}},
              {{"KILN_OPT_LEVEL", "2"}});  // config beats environment
  ASSERT_TRUE(disabled.ok()) << disabled.status();
  EXPECT_EQ(disabled->optimization_level, 0);
  EXPECT_EQ(disabled->sources.at("opt_level"), "parameter");

  absl::StatusOr<EngineOptions> explicit_level = Resolve(
      {{"DISABLE_OPTIMIZED_EXECUTION", "true"}, {"KILN_OPT_LEVEL", "2"}});
  ASSERT_TRUE(explicit_level.ok()) << explicit_level.status();
  EXPECT_EQ(explicit_level->optimization_level, 2);

  absl::StatusOr<EngineOptions> not_disabled =
      Resolve({{"DISABLE_OPTIMIZED_EXECUTION", "false"}},
              {{"KILN_OPT_LEVEL", "1"}});
  ASSERT_TRUE(not_disabled.ok()) << not_disabled.status();
  EXPECT_EQ(not_disabled->optimization_level, 1);
  EXPECT_EQ(not_disabled->sources.at("opt_level"), "environment");

  EXPECT_THAT(Error({{"DISABLE_OPTIMIZED_EXECUTION", "yes"}}),
              AllOf(HasSubstr("model 'resnet50'"),
                    HasSubstr("config parameter DISABLE_OPTIMIZED_EXECUTION"),
                    HasSubstr("true, false, 1, 0"), HasSubstr("got 'yes'")));
}

TEST(EngineOptionsTest, OtherTritonParametersIgnored) {
  absl::StatusOr<EngineOptions> options =
      Resolve({{"INFERENCE_MODE", "true"},
               {"ENABLE_JIT_EXECUTOR", "false"},
               {"ENABLE_JIT_PROFILING", "whatever"},
               {"SOMETHING_ELSE", "x"}});
  ASSERT_TRUE(options.ok()) << options.status();
  EXPECT_EQ(options->optimization_level, 3);
}

TEST(EngineOptionsTest, UnknownKilnKeyRejected) {
  EXPECT_THAT(Error({{"KILN_PRECISON", "fp32"}}),
              AllOf(HasSubstr("model 'resnet50'"),
                    HasSubstr("unknown config parameter KILN_PRECISON"),
                    HasSubstr("KILN_PRECISION")));
}

TEST(EngineOptionsTest, MalformedConfigValuesRejected) {
  EXPECT_EQ(Error({{"KILN_PRECISION", "fp16"}}),
            "model 'resnet50': config parameter KILN_PRECISION must be one of "
            "auto, fp32, bf16; got 'fp16'");
  EXPECT_EQ(Error({{"KILN_OPT_LEVEL", "4"}}),
            "model 'resnet50': config parameter KILN_OPT_LEVEL must be an "
            "integer in 0..3; got '4'");
  EXPECT_THAT(Error({{"KILN_OPT_LEVEL", "-1"}}), HasSubstr("got '-1'"));
  EXPECT_THAT(Error({{"KILN_ACCURACY_CHECK", "maybe"}}),
              AllOf(HasSubstr("model 'resnet50'"),
                    HasSubstr("config parameter KILN_ACCURACY_CHECK"),
                    HasSubstr("true, false, 1, 0"), HasSubstr("got 'maybe'")));
  EXPECT_THAT(Error({{"KILN_PLAN_CACHE_SIZE", "0"}}),
              AllOf(HasSubstr("config parameter KILN_PLAN_CACHE_SIZE"),
                    HasSubstr("an integer >= 1"), HasSubstr("got '0'")));
  EXPECT_THAT(Error({{"KILN_PLAN_CACHE_SIZE", ""}}), HasSubstr("got ''"));
  EXPECT_THAT(Error({{"KILN_INTRA_OP_THREADS", "many"}}),
              AllOf(HasSubstr("config parameter KILN_INTRA_OP_THREADS"),
                    HasSubstr("an integer >= 0"), HasSubstr("got 'many'")));
  EXPECT_THAT(Error({{"KILN_INTER_OP_THREADS", "1.5"}}),
              AllOf(HasSubstr("config parameter KILN_INTER_OP_THREADS"),
                    HasSubstr("got '1.5'")));
  EXPECT_THAT(Error({{"INTRA_OP_THREAD_COUNT", "-2"}}),
              AllOf(HasSubstr("config parameter INTRA_OP_THREAD_COUNT"),
                    HasSubstr("got '-2'")));
  EXPECT_THAT(Error({{"INTER_OP_THREAD_COUNT", "x"}}),
              HasSubstr("config parameter INTER_OP_THREAD_COUNT"));
  EXPECT_THAT(Error({{"KILN_OPT_LEVEL", "99999999999"}}),
              HasSubstr("got '99999999999'"));
}

TEST(EngineOptionsTest, MalformedEnvironmentValuesRejected) {
  EXPECT_EQ(Error({}, {{"KILN_OPT_LEVEL", "high"}}),
            "model 'resnet50': environment variable KILN_OPT_LEVEL must be an "
            "integer in 0..3; got 'high'");
  EXPECT_THAT(Error({}, {{"KILN_PRECISION", "int8"}}),
              AllOf(HasSubstr("environment variable KILN_PRECISION"),
                    HasSubstr("auto, fp32, bf16"), HasSubstr("got 'int8'")));
  EXPECT_THAT(Error({}, {{"KILN_ACCURACY_CHECK", "on"}}),
              HasSubstr("environment variable KILN_ACCURACY_CHECK"));
  EXPECT_THAT(Error({}, {{"KILN_PLAN_CACHE_SIZE", "-3"}}),
              HasSubstr("environment variable KILN_PLAN_CACHE_SIZE"));
  EXPECT_THAT(Error({}, {{"KILN_INTRA_OP_THREADS", "x"}}),
              HasSubstr("environment variable KILN_INTRA_OP_THREADS"));
  EXPECT_THAT(Error({}, {{"KILN_INTER_OP_THREADS", "x"}}),
              HasSubstr("environment variable KILN_INTER_OP_THREADS"));
}

TEST(EngineOptionsTest, OverriddenMalformedValueStillRejected) {
  EXPECT_THAT(Error({{"KILN_PRECISION", "fp32"}}, {{"KILN_PRECISION", "fp16"}}),
              HasSubstr("environment variable KILN_PRECISION"));
}

TEST(EngineOptionsTest, ErrorNamesTheModel) {
  absl::StatusOr<EngineOptions> options = ResolveEngineOptions(
      Config({{"KILN_OPT_LEVEL", "x"}}, "bert"),
      [](const std::string&) { return std::nullopt; });
  ASSERT_FALSE(options.ok());
  EXPECT_THAT(std::string(options.status().message()),
              HasSubstr("model 'bert'"));
}

TEST(EngineOptionsTest, RealEnvironmentOverload) {
  // Only checks that it runs; the process environment is not ours to set.
  absl::StatusOr<EngineOptions> options =
      ResolveEngineOptions(Config({{"KILN_OPT_LEVEL", "1"}}));
  if (options.ok()) EXPECT_EQ(options->optimization_level, 1);
}

TEST(EngineOptionsDescribeTest, ListsValuesAndSources) {
  absl::StatusOr<EngineOptions> options =
      Resolve({{"KILN_OPT_LEVEL", "2"}}, {{"KILN_PRECISION", "bf16"}});
  ASSERT_TRUE(options.ok()) << options.status();
  EXPECT_EQ(DescribeEngineOptions(*options),
            "opt_level=2 (parameter) precision=bf16 (environment) "
            "accuracy_check=true (default) plan_cache_size=16 (default) "
            "batch_buckets=off (default) "
            "intra_op_threads=0 (default) inter_op_threads=0 (default) "
            "async_compile=false (default)");
}

TEST(EngineOptionsTest, AsyncCompileFromConfigOrEnvironment) {
  absl::StatusOr<EngineOptions> from_config = Resolve({{"KILN_ASYNC_COMPILE", "true"}}, {});
  ASSERT_TRUE(from_config.ok()) << from_config.status();
  EXPECT_TRUE(from_config->async_compile);
  EXPECT_EQ(from_config->sources.at("async_compile"), "parameter");
  absl::StatusOr<EngineOptions> from_env = Resolve({}, {{"KILN_ASYNC_COMPILE", "1"}});
  ASSERT_TRUE(from_env.ok()) << from_env.status();
  EXPECT_TRUE(from_env->async_compile);
  absl::StatusOr<EngineOptions> bad = Resolve({{"KILN_ASYNC_COMPILE", "sometimes"}}, {});
  EXPECT_FALSE(bad.ok());
  EXPECT_THAT(std::string(bad.status().message()), HasSubstr("KILN_ASYNC_COMPILE"));
}

TEST(EngineOptionsDescribeTest, MissingSourceShownAsDefault) {
  EngineOptions options;
  EXPECT_THAT(DescribeEngineOptions(options),
              HasSubstr("opt_level=3 (default) precision=auto (default)"));
}

TEST(EngineOptionsPrecisionTest, Names) {
  EXPECT_EQ(PrecisionName(Precision::kAuto), "auto");
  EXPECT_EQ(PrecisionName(Precision::kFp32), "fp32");
  EXPECT_EQ(PrecisionName(Precision::kBf16), "bf16");
}

}  // namespace
}  // namespace kiln::config

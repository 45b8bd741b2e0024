#include "config/server_flags.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace kiln::config {
namespace {

using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

// Parses `args` as if they followed the program name.
absl::StatusOr<ServerFlags> Parse(std::vector<std::string> args) {
  std::vector<const char*> argv = {"kiln-server"};
  for (const std::string& arg : args) argv.push_back(arg.c_str());
  return ParseServerFlags(static_cast<int>(argv.size()), argv.data());
}

std::string Error(std::vector<std::string> args) {
  absl::StatusOr<ServerFlags> flags = Parse(std::move(args));
  if (flags.ok()) return "OK";
  EXPECT_EQ(flags.status().code(), absl::StatusCode::kInvalidArgument);
  return std::string(flags.status().message());
}

TEST(ParseServerFlagsTest, DefaultsWithOnlyRepository) {
  absl::StatusOr<ServerFlags> flags = Parse({"--model-repository=/models"});
  ASSERT_TRUE(flags.ok()) << flags.status();
  EXPECT_THAT(flags->model_repositories, ElementsAre("/models"));
  EXPECT_EQ(flags->model_control_mode, ModelControlMode::kNone);
  EXPECT_EQ(flags->repository_poll_secs, 15);
  EXPECT_TRUE(flags->load_models.empty());
  EXPECT_TRUE(flags->strict_readiness);
  EXPECT_TRUE(flags->exit_on_error);
  EXPECT_EQ(flags->http_port, 8000);
  EXPECT_EQ(flags->grpc_port, 8001);
  EXPECT_EQ(flags->metrics_port, 8002);
  EXPECT_TRUE(flags->allow_http && flags->allow_grpc && flags->allow_metrics);
  EXPECT_EQ(flags->grpc_address, "0.0.0.0");
  EXPECT_EQ(flags->http_address, "0.0.0.0");
  EXPECT_EQ(flags->log_verbose, 0);
  EXPECT_EQ(flags->exit_timeout_secs, 30);
  EXPECT_EQ(flags->intra_op_thread_count, 0);
}

TEST(ParseServerFlagsTest, EveryFlagBothSyntaxes) {
  absl::StatusOr<ServerFlags> flags = Parse({
      "--model-repository",
      "/a",
      "--model-repository=/b",
      "--model-control-mode=explicit",
      "--repository-poll-secs",
      "5",
      "--load-model=resnet",
      "--load-model",
      "bert",
      "--strict-readiness=false",
      "--exit-on-error",
      "0",
      "--http-port=9000",
      "--grpc-port",
      "9001",
      "--metrics-port=0",
      "--allow-http=0",
      "--allow-grpc",
      "true",
      "--allow-metrics=FALSE",
      "--grpc-address=127.0.0.1",
      "--http-address",
      "::1",
      "--log-verbose=2",
      "--exit-timeout-secs",
      "0",
      "--intra-op-threads=4",
  });
  ASSERT_TRUE(flags.ok()) << flags.status();
  EXPECT_THAT(flags->model_repositories, ElementsAre("/a", "/b"));
  EXPECT_EQ(flags->model_control_mode, ModelControlMode::kExplicit);
  EXPECT_EQ(flags->repository_poll_secs, 5);
  EXPECT_THAT(flags->load_models, ElementsAre("resnet", "bert"));
  EXPECT_FALSE(flags->strict_readiness);
  EXPECT_FALSE(flags->exit_on_error);
  EXPECT_EQ(flags->http_port, 9000);
  EXPECT_EQ(flags->grpc_port, 9001);
  EXPECT_EQ(flags->metrics_port, 0);
  EXPECT_FALSE(flags->allow_http);
  EXPECT_TRUE(flags->allow_grpc);
  EXPECT_FALSE(flags->allow_metrics);
  EXPECT_EQ(flags->grpc_address, "127.0.0.1");
  EXPECT_EQ(flags->http_address, "::1");
  EXPECT_EQ(flags->log_verbose, 2);
  EXPECT_EQ(flags->exit_timeout_secs, 0);
  EXPECT_EQ(flags->intra_op_thread_count, 4);
}

TEST(ParseServerFlagsTest, BareBooleanMeansTrue) {
  absl::StatusOr<ServerFlags> flags =
      Parse({"--strict-readiness=false", "--strict-readiness",
             "--model-repository=/m", "--allow-http"});
  ASSERT_TRUE(flags.ok()) << flags.status();
  EXPECT_TRUE(flags->strict_readiness);
  EXPECT_TRUE(flags->allow_http);
}

TEST(ParseServerFlagsTest, LastValueWins) {
  absl::StatusOr<ServerFlags> flags =
      Parse({"--model-repository=/m", "--grpc-port=1", "--grpc-port=2"});
  ASSERT_TRUE(flags.ok());
  EXPECT_EQ(flags->grpc_port, 2);
}

TEST(ParseServerFlagsTest, ControlModes) {
  for (const auto& [text, mode] :
       std::vector<std::pair<std::string, ModelControlMode>>{
           {"none", ModelControlMode::kNone},
           {"poll", ModelControlMode::kPoll},
           {"explicit", ModelControlMode::kExplicit}}) {
    absl::StatusOr<ServerFlags> flags =
        Parse({"--model-repository=/m", "--model-control-mode=" + text});
    ASSERT_TRUE(flags.ok()) << text;
    EXPECT_EQ(flags->model_control_mode, mode) << text;
  }
  EXPECT_EQ(Error({"--model-repository=/m", "--model-control-mode=auto"}),
            "--model-control-mode: expected none, poll or explicit, got "
            "'auto'");
}

TEST(ParseServerFlagsTest, BadIntegers) {
  EXPECT_EQ(Error({"--model-repository=/m", "--grpc-port=abc"}),
            "--grpc-port: expected an integer in 0..65535, got 'abc'");
  EXPECT_EQ(Error({"--model-repository=/m", "--http-port", "65536"}),
            "--http-port: expected an integer in 0..65535, got '65536'");
  EXPECT_EQ(Error({"--model-repository=/m", "--metrics-port= 80"}),
            "--metrics-port: expected an integer in 0..65535, got ' 80'");
  EXPECT_EQ(Error({"--model-repository=/m", "--log-verbose", "-1"}),
            "--log-verbose: expected an integer >= 0, got '-1'");
  EXPECT_EQ(Error({"--model-repository=/m", "--repository-poll-secs=0"}),
            "--repository-poll-secs: expected an integer >= 1, got '0'");
  EXPECT_EQ(Error({"--model-repository=/m", "--exit-timeout-secs=1.5"}),
            "--exit-timeout-secs: expected an integer >= 0, got '1.5'");
  EXPECT_EQ(Error({"--model-repository=/m", "--intra-op-threads="}),
            "--intra-op-threads: expected an integer >= 0, got ''");
}

TEST(ParseServerFlagsTest, BadBooleans) {
  EXPECT_EQ(Error({"--model-repository=/m", "--strict-readiness=yes"}),
            "--strict-readiness: expected true, false, 1 or 0, got 'yes'");
  EXPECT_EQ(Error({"--model-repository=/m", "--allow-grpc", "maybe"}),
            "--allow-grpc: expected true, false, 1 or 0, got 'maybe'");
}

TEST(ParseServerFlagsTest, UnknownFlagAndStrayArgument) {
  EXPECT_EQ(Error({"--model-repository=/m", "--backend-config=x"}),
            "unknown flag '--backend-config' (see --help)");
  EXPECT_EQ(Error({"--model-repository=/m", "--grpc-port=1", "extra"}),
            "unexpected argument 'extra' (flags start with --; see --help)");
  EXPECT_EQ(Error({"-model-repository=/m"}),
            "unexpected argument '-model-repository=/m' (flags start with --; "
            "see --help)");
}

TEST(ParseServerFlagsTest, MissingValues) {
  EXPECT_EQ(Error({"--model-repository=/m", "--grpc-port"}),
            "--grpc-port: missing value <port>");
  EXPECT_EQ(Error({"--model-repository", "--grpc-port=1"}),
            "--model-repository: missing value <path>");
  EXPECT_EQ(Error({"--model-repository="}),
            "--model-repository: expected a non-empty value, got ''");
  EXPECT_EQ(Error({"--model-repository=/m", "--grpc-address="}),
            "--grpc-address: expected a non-empty value, got ''");
}

TEST(ParseServerFlagsTest, RepositoryRequired) {
  EXPECT_EQ(Error({}), "--model-repository is required (see --help)");
  EXPECT_EQ(Error({"--grpc-port=1"}),
            "--model-repository is required (see --help)");
}

TEST(ParseServerFlagsTest, LoadModelRequiresExplicitMode) {
  EXPECT_EQ(Error({"--model-repository=/m", "--load-model=a"}),
            "--load-model requires --model-control-mode=explicit");
  EXPECT_EQ(Error({"--model-repository=/m", "--model-control-mode=poll",
                   "--load-model=a"}),
            "--load-model requires --model-control-mode=explicit");
  // Order does not matter.
  absl::StatusOr<ServerFlags> flags =
      Parse({"--load-model=*", "--model-control-mode", "explicit",
             "--model-repository=/m"});
  ASSERT_TRUE(flags.ok()) << flags.status();
  EXPECT_THAT(flags->load_models, ElementsAre("*"));
}

TEST(ParseServerFlagsTest, HelpIsCancelledWithUsage) {
  for (const char* help : {"--help", "-h"}) {
    absl::StatusOr<ServerFlags> flags = Parse({"--grpc-port=bad", help});
    // The bad flag comes first, so it is reported; --help alone wins below.
    EXPECT_EQ(flags.status().code(), absl::StatusCode::kInvalidArgument);
    flags = Parse({help, "--grpc-port=bad"});
    EXPECT_EQ(flags.status().code(), absl::StatusCode::kCancelled);
    EXPECT_EQ(flags.status().message(), ServerFlagsUsage());
  }
}

TEST(ServerFlagsUsageTest, ListsEveryFlagWithDefault) {
  const std::string usage = ServerFlagsUsage();
  EXPECT_THAT(
      usage,
      AllOf(HasSubstr("--model-repository=<path>"),
            HasSubstr("--model-control-mode=<none|poll|explicit>"),
            HasSubstr("(default: none)"), HasSubstr("--repository-poll-secs"),
            HasSubstr("(default: 15)"), HasSubstr("--load-model"),
            HasSubstr("--strict-readiness"), HasSubstr("--exit-on-error"),
            HasSubstr("--http-port=<port>"), HasSubstr("(default: 8000)"),
            HasSubstr("--grpc-port=<port>"), HasSubstr("(default: 8001)"),
            HasSubstr("--metrics-port=<port>"), HasSubstr("(default: 8002)"),
            HasSubstr("--allow-http"), HasSubstr("--allow-grpc"),
            HasSubstr("--allow-metrics"), HasSubstr("(default: true)"),
            HasSubstr("--grpc-address"), HasSubstr("--http-address"),
            HasSubstr("(default: 0.0.0.0)"), HasSubstr("--log-verbose"),
            HasSubstr("--exit-timeout-secs"), HasSubstr("(default: 30)"),
            HasSubstr("--intra-op-threads"), HasSubstr("--help")));
}

// ---- Metrics flags (--metrics-address, --metrics-latency-buckets-seconds).

TEST(ParseServerFlagsTest, MetricsDefaults) {
  absl::StatusOr<ServerFlags> flags = Parse({"--model-repository=/m"});
  ASSERT_TRUE(flags.ok()) << flags.status();
  EXPECT_EQ(flags->metrics_address, "0.0.0.0");
  const std::vector<double>& buckets = flags->metrics_latency_buckets_seconds;
  ASSERT_GE(buckets.size(), 10u);
  EXPECT_DOUBLE_EQ(buckets.front(), 0.0001);  // 100 us
  EXPECT_DOUBLE_EQ(buckets.back(), 30);
  for (size_t i = 1; i < buckets.size(); ++i) EXPECT_LT(buckets[i - 1], buckets[i]);
}

TEST(ParseServerFlagsTest, MetricsAddressAndBuckets) {
  absl::StatusOr<ServerFlags> flags =
      Parse({"--model-repository=/m", "--metrics-address=127.0.0.1",
             "--metrics-latency-buckets-seconds=0.0005,0.001,1e-2,2"});
  ASSERT_TRUE(flags.ok()) << flags.status();
  EXPECT_EQ(flags->metrics_address, "127.0.0.1");
  EXPECT_THAT(flags->metrics_latency_buckets_seconds, ElementsAre(0.0005, 0.001, 0.01, 2));
}

TEST(ParseServerFlagsTest, BadLatencyBucketsAreRefused) {
  const std::string expected =
      "expected a comma-separated list of increasing positive numbers of seconds";
  for (const char* value : {"", "0.1,", "0.1,0.1", "0.2,0.1", "0,1", "-1", "abc", "0.1, 0.2",
                            "inf", "nan"}) {
    EXPECT_THAT(Error({"--model-repository=/m",
                       std::string("--metrics-latency-buckets-seconds=") + value}),
                AllOf(HasSubstr("--metrics-latency-buckets-seconds"), HasSubstr(expected)))
        << value;
  }
  EXPECT_THAT(ServerFlagsUsage(), AllOf(HasSubstr("--metrics-address=<address>"),
                                        HasSubstr("--metrics-latency-buckets-seconds"),
                                        HasSubstr("0.0001,0.00025,0.0005")));
}

// ---- HTTP flags (--http-thread-count, --http-max-input-size).

TEST(ParseServerFlagsTest, HttpDefaultsAndValues) {
  absl::StatusOr<ServerFlags> flags = Parse({"--model-repository=/m"});
  ASSERT_TRUE(flags.ok()) << flags.status();
  EXPECT_EQ(flags->http_thread_count, 32);
  EXPECT_EQ(flags->http_max_input_size, 64 << 20);
  flags = Parse({"--model-repository=/m", "--http-thread-count=4",
                 "--http-max-input-size", "1000"});
  ASSERT_TRUE(flags.ok()) << flags.status();
  EXPECT_EQ(flags->http_thread_count, 4);
  EXPECT_EQ(flags->http_max_input_size, 1000);
}

TEST(ParseServerFlagsTest, BadHttpFlagsAreRefused) {
  EXPECT_EQ(Error({"--model-repository=/m", "--http-thread-count=0"}),
            "--http-thread-count: expected an integer >= 1, got '0'");
  EXPECT_EQ(Error({"--model-repository=/m", "--http-max-input-size=-5"}),
            "--http-max-input-size: expected an integer >= 1, got '-5'");
  EXPECT_THAT(ServerFlagsUsage(),
              AllOf(HasSubstr("--http-thread-count=<n>"),
                    HasSubstr("--http-max-input-size=<bytes>"),
                    HasSubstr("(default: 67108864)")));
}

}  // namespace
}  // namespace kiln::config

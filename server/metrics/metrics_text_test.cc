#include "server/metrics/metrics_text.h"

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace kiln::server::metrics {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

HistogramSnapshot Latencies(std::initializer_list<uint64_t> ns) {
  auto h = Histogram::Create({0.001, 0.01, 0.1}, 1e9);
  for (uint64_t v : ns) (*h)->Observe(v);
  return (*h)->Read();
}

ModelSample Sample(const std::string& name, const std::string& version) {
  ModelSample m;
  m.name = name;
  m.version = version;
  m.stats.success = {3, 6'000'000};
  m.stats.fail = {4, 1'000};
  m.stats.fail_by_reason = {1, 0, 2, 1};  // REJECTED, CANCELED, BACKEND, OTHER
  m.stats.inference_count = 7;
  m.stats.execution_count = 2;
  m.stats.queue = {3, 1'500};
  m.stats.compute_input = {3, 30'999};
  m.stats.compute_infer = {3, 5'000'000};
  m.stats.compute_output = {3, 2'000};
  m.request_duration = Latencies({500'000, 2'000'000, 3'500'000});
  m.queue_duration = Latencies({500, 500, 500});
  m.compute_infer_duration = Latencies({1'000'000, 2'000'000, 2'000'000});
  auto batch = Histogram::Create({1, 2, 4, 8, 16, 32, 64, 128}, 1);
  (*batch)->Observe(3);
  (*batch)->Observe(4);
  m.batch_size = (*batch)->Read();
  auto compile = Histogram::Create({0.1, 1, 10}, 1e9);
  (*compile)->Observe(1'500'000'000);
  m.plan_compile_duration = (*compile)->Read();
  m.pending_requests = 5;
  m.load_seconds = 1.25;
  m.engine.plans_built = 1;
  m.engine.plan_cache_hits = 10;
  m.engine.plan_cache_misses = 1;
  m.engine.plan_cache_evictions = 0;
  m.engine.plan_cache_size = 1;
  m.engine.accuracy_checks_bf16_passed = 0;
  m.engine.accuracy_checks_bf16_failed = 1;
  m.engine.accuracy_checks_fp32_passed = 1;
  m.engine.accuracy_checks_fp32_failed = 0;
  m.engine.worst_max_abs_error = 0.0001;
  m.engine.worst_cosine = 0.99999;
  m.engine.reference_fallbacks = 0;
  m.engine.nodes_left_to_torchscript = 2;
  return m;
}

HostSample Host() {
  HostSample host;
  host.cpu_utilization = 0.25;
  host.memory = MemoryInfo{1 << 30, 1 << 29};
  return host;
}

// name -> TYPE, from the # TYPE lines; fails on a family typed twice.
std::map<std::string, std::string> Types(const std::string& text) {
  std::map<std::string, std::string> types;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    if (!absl::StartsWith(line, "# TYPE ")) continue;
    std::vector<std::string> parts = absl::StrSplit(line, ' ');
    EXPECT_EQ(parts.size(), 4u) << line;
    EXPECT_TRUE(types.emplace(parts[2], parts[3]).second) << "typed twice: " << line;
  }
  return types;
}

TEST(MetricsTextTest, EveryDocumentedFamilyWithHelpAndType) {
  const std::string text = RenderMetrics({Sample("resnet", "1")}, Host());
  const std::map<std::string, std::string> expected = {
      {"nv_inference_request_success", "counter"},
      {"nv_inference_request_failure", "counter"},
      {"nv_inference_count", "counter"},
      {"nv_inference_exec_count", "counter"},
      {"nv_inference_request_duration_us", "counter"},
      {"nv_inference_queue_duration_us", "counter"},
      {"nv_inference_compute_input_duration_us", "counter"},
      {"nv_inference_compute_infer_duration_us", "counter"},
      {"nv_inference_compute_output_duration_us", "counter"},
      {"nv_inference_pending_request_count", "gauge"},
      {"nv_model_load_duration_secs", "gauge"},
      {"nv_cpu_utilization", "gauge"},
      {"nv_cpu_memory_total_bytes", "gauge"},
      {"nv_cpu_memory_used_bytes", "gauge"},
      {"kiln_request_duration_seconds", "histogram"},
      {"kiln_queue_duration_seconds", "histogram"},
      {"kiln_compute_infer_duration_seconds", "histogram"},
      {"kiln_batch_size", "histogram"},
      {"kiln_plans_built_total", "counter"},
      {"kiln_plan_compile_duration_seconds", "histogram"},
      {"kiln_plan_cache_hits_total", "counter"},
      {"kiln_plan_cache_misses_total", "counter"},
      {"kiln_plan_cache_evictions_total", "counter"},
      {"kiln_plan_cache_size", "gauge"},
      {"kiln_accuracy_checks_total", "counter"},
      {"kiln_accuracy_worst_max_abs_error", "gauge"},
      {"kiln_accuracy_worst_cosine", "gauge"},
      {"kiln_reference_fallbacks_total", "counter"},
      {"kiln_nodes_left_to_torchscript", "gauge"},
  };
  EXPECT_EQ(Types(text), expected);
  for (const auto& [name, type] : expected) {
    EXPECT_THAT(text, HasSubstr("# HELP " + name + " ")) << name;
  }
}

TEST(MetricsTextTest, TritonCountersInTritonUnits) {
  const std::string text = RenderMetrics({Sample("resnet", "1")}, Host());
  const char* lines[] = {
      "nv_inference_request_success{model=\"resnet\",version=\"1\"} 3\n",
      "nv_inference_request_failure{model=\"resnet\",version=\"1\",reason=\"REJECTED\"} 1\n",
      "nv_inference_request_failure{model=\"resnet\",version=\"1\",reason=\"CANCELED\"} 0\n",
      "nv_inference_request_failure{model=\"resnet\",version=\"1\",reason=\"BACKEND\"} 2\n",
      "nv_inference_request_failure{model=\"resnet\",version=\"1\",reason=\"OTHER\"} 1\n",
      "nv_inference_count{model=\"resnet\",version=\"1\"} 7\n",
      "nv_inference_exec_count{model=\"resnet\",version=\"1\"} 2\n",
      // Cumulative microseconds, truncated like Triton's.
      "nv_inference_request_duration_us{model=\"resnet\",version=\"1\"} 6000\n",
      "nv_inference_queue_duration_us{model=\"resnet\",version=\"1\"} 1\n",
      "nv_inference_compute_input_duration_us{model=\"resnet\",version=\"1\"} 30\n",
      "nv_inference_compute_infer_duration_us{model=\"resnet\",version=\"1\"} 5000\n",
      "nv_inference_compute_output_duration_us{model=\"resnet\",version=\"1\"} 2\n",
      "nv_inference_pending_request_count{model=\"resnet\",version=\"1\"} 5\n",
      "nv_model_load_duration_secs{model=\"resnet\",version=\"1\"} 1.25\n",
      "nv_cpu_utilization 0.25\n",
      "nv_cpu_memory_total_bytes 1073741824\n",
      "nv_cpu_memory_used_bytes 536870912\n",
  };
  for (const char* line : lines) EXPECT_THAT(text, HasSubstr(line));
}

TEST(MetricsTextTest, KilnHistogramsAndEngineMetrics) {
  const std::string text = RenderMetrics({Sample("resnet", "1")}, Host());
  const char* lines[] = {
      "kiln_request_duration_seconds_bucket{model=\"resnet\",version=\"1\",le=\"0.001\"} 1\n",
      "kiln_request_duration_seconds_bucket{model=\"resnet\",version=\"1\",le=\"0.01\"} 3\n",
      "kiln_request_duration_seconds_bucket{model=\"resnet\",version=\"1\",le=\"+Inf\"} 3\n",
      "kiln_request_duration_seconds_sum{model=\"resnet\",version=\"1\"} 0.006\n",
      "kiln_request_duration_seconds_count{model=\"resnet\",version=\"1\"} 3\n",
      "kiln_queue_duration_seconds_count{model=\"resnet\",version=\"1\"} 3\n",
      "kiln_queue_duration_seconds_sum{model=\"resnet\",version=\"1\"} 0.0000015\n",
      "kiln_compute_infer_duration_seconds_sum{model=\"resnet\",version=\"1\"} 0.005\n",
      "kiln_batch_size_bucket{model=\"resnet\",version=\"1\",le=\"2\"} 0\n",
      "kiln_batch_size_bucket{model=\"resnet\",version=\"1\",le=\"4\"} 2\n",
      "kiln_batch_size_sum{model=\"resnet\",version=\"1\"} 7\n",
      "kiln_plans_built_total{model=\"resnet\",version=\"1\"} 1\n",
      "kiln_plan_compile_duration_seconds_bucket{model=\"resnet\",version=\"1\",le=\"1\"} 0\n",
      "kiln_plan_compile_duration_seconds_bucket{model=\"resnet\",version=\"1\",le=\"10\"} 1\n",
      "kiln_plan_compile_duration_seconds_sum{model=\"resnet\",version=\"1\"} 1.5\n",
      "kiln_plan_cache_hits_total{model=\"resnet\",version=\"1\"} 10\n",
      "kiln_plan_cache_misses_total{model=\"resnet\",version=\"1\"} 1\n",
      "kiln_plan_cache_evictions_total{model=\"resnet\",version=\"1\"} 0\n",
      "kiln_plan_cache_size{model=\"resnet\",version=\"1\"} 1\n",
      "kiln_accuracy_checks_total{model=\"resnet\",version=\"1\",result=\"fail\","
      "precision=\"bf16\"} 1\n",
      "kiln_accuracy_checks_total{model=\"resnet\",version=\"1\",result=\"pass\","
      "precision=\"fp32\"} 1\n",
      "kiln_accuracy_worst_max_abs_error{model=\"resnet\",version=\"1\"} 0.0001\n",
      "kiln_accuracy_worst_cosine{model=\"resnet\",version=\"1\"} 0.99999\n",
      "kiln_reference_fallbacks_total{model=\"resnet\",version=\"1\"} 0\n",
      "kiln_nodes_left_to_torchscript{model=\"resnet\",version=\"1\"} 2\n",
  };
  for (const char* line : lines) EXPECT_THAT(text, HasSubstr(line));
}

TEST(MetricsTextTest, FamiliesAreContiguousAcrossModelsAndLabelsEscaped) {
  ModelSample odd = Sample("we\"ird\\name", "2");
  odd.request_duration.reset();  // a model without histograms: no series
  const std::string text = RenderMetrics({Sample("a", "1"), odd}, Host());
  EXPECT_THAT(text, HasSubstr("nv_inference_count{model=\"we\\\"ird\\\\name\",version=\"2\"} 7\n"));
  EXPECT_THAT(text, Not(HasSubstr("kiln_request_duration_seconds_count{model=\"we")));
  // Each family's samples follow its TYPE line with no other family between.
  std::string current;
  std::set<std::string> finished;
  for (absl::string_view line : absl::StrSplit(text, '\n', absl::SkipEmpty())) {
    if (absl::StartsWith(line, "# HELP ")) continue;
    if (absl::StartsWith(line, "# TYPE ")) {
      if (!current.empty()) finished.insert(current);
      current = std::vector<std::string>(absl::StrSplit(line, ' '))[2];
      EXPECT_FALSE(finished.count(current)) << current;
      continue;
    }
    const std::string series(line.substr(0, line.find_first_of("{ ")));
    EXPECT_TRUE(absl::StartsWith(series, current)) << series << " under " << current;
  }
}

TEST(MetricsTextTest, NoModelsStillValid) {
  const std::string text = RenderMetrics({}, HostSample{});
  EXPECT_THAT(text, HasSubstr("# TYPE nv_inference_request_success counter\n"));
  EXPECT_THAT(text, HasSubstr("nv_cpu_utilization 0\n"));
  EXPECT_THAT(text, Not(HasSubstr("nv_cpu_memory_total_bytes")));
}

// promtool (Debian's prometheus package) accepts the text. Its linter also
// flags Triton's own names (counters without _total, "_us", a gauge named
// *_count); those are kept for Triton's dashboards, and nothing else may be
// flagged.
TEST(MetricsTextTest, PromtoolAcceptsIt) {
  const char* promtool = "/usr/bin/promtool";
  if (!std::filesystem::exists(promtool)) GTEST_SKIP() << "no " << promtool;
  const std::filesystem::path dir = testing::TempDir();
  const std::string input = (dir / "kiln_metrics.txt").string();
  const std::string output = (dir / "kiln_promtool.txt").string();
  {
    std::ofstream out(input);
    out << RenderMetrics({Sample("a", "1"), Sample("b\"q", "2")}, Host());
  }
  const std::string command = std::string(promtool) + " check metrics < " + input + " > " +
                              output + " 2>&1";
  const int status = std::system(command.c_str());
  ASSERT_TRUE(WIFEXITED(status));
  std::ifstream in(output);
  std::stringstream report;
  report << in.rdbuf();
  const int code = WEXITSTATUS(status);
  ASSERT_TRUE(code == 0 || code == 3) << "promtool failed (" << code << "):\n" << report.str();
  for (absl::string_view problem : absl::StrSplit(report.str(), '\n', absl::SkipEmpty())) {
    EXPECT_TRUE(absl::StartsWith(problem, "nv_")) << problem;
    EXPECT_TRUE(absl::StrContains(problem, "should have \"_total\" suffix") ||
                absl::StrContains(problem, "abbreviated units") ||
                absl::StrContains(problem, "should not have \"_count\" suffix"))
        << problem;
  }
}

}  // namespace
}  // namespace kiln::server::metrics

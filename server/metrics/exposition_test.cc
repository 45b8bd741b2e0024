#include "server/metrics/exposition.h"

#include <cmath>
#include <limits>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace kiln::server::metrics {
namespace {

TEST(ExpositionTest, LabelValuesAndHelpAreEscaped) {
  EXPECT_EQ(EscapeLabelValue("plain"), "plain");
  EXPECT_EQ(EscapeLabelValue("a\\b\"c\nd"), "a\\\\b\\\"c\\nd");
  // HELP text keeps its quotes; backslash and newline are escaped.
  EXPECT_EQ(EscapeHelp("say \"hi\"\\\nbye"), "say \"hi\"\\\\\\nbye");
}

TEST(ExpositionTest, ValuesUseTheShortestExactText) {
  EXPECT_EQ(FormatValue(0), "0");
  EXPECT_EQ(FormatValue(1), "1");
  EXPECT_EQ(FormatValue(30), "30");
  EXPECT_EQ(FormatValue(0.0005), "0.0005");
  EXPECT_EQ(FormatValue(0.00025), "0.00025");
  EXPECT_EQ(FormatValue(0.0001), "0.0001");
  EXPECT_EQ(FormatValue(1.5e-06), "0.0000015");
  EXPECT_EQ(FormatValue(12345678), "12345678");
  EXPECT_EQ(FormatValue(-2.5), "-2.5");
  EXPECT_EQ(FormatValue(1e-9), "1e-09");
  EXPECT_EQ(FormatValue(1e20), "1e+20");
  EXPECT_EQ(FormatValue(0.1 + 0.2), "0.30000000000000004");
  EXPECT_EQ(FormatValue(std::nan("")), "NaN");
  EXPECT_EQ(FormatValue(std::numeric_limits<double>::infinity()), "+Inf");
  EXPECT_EQ(FormatValue(-std::numeric_limits<double>::infinity()), "-Inf");
}

TEST(ExpositionTest, CounterGaugeAndHistogramFamilies) {
  ExpositionWriter w;
  w.Family("requests_total", "Requests.\nSecond line", MetricType::kCounter);
  w.Sample("requests_total", {{"model", "m\"1"}, {"version", "1"}},
           uint64_t{18446744073709551615u});
  w.Family("temperature", "A gauge", MetricType::kGauge);
  w.Sample("temperature", {}, 0.5);
  auto h = Histogram::Create({0.001, 0.5}, 1e9);
  ASSERT_TRUE(h.ok());
  (*h)->Observe(1'000'000);    // 1 ms
  (*h)->Observe(250'000'000);  // 250 ms
  (*h)->Observe(2'000'000'000);
  w.Family("latency_seconds", "Latency", MetricType::kHistogram);
  w.Histogram("latency_seconds", {{"model", "a"}}, (*h)->Read());
  EXPECT_EQ(w.text(),
            "# HELP requests_total Requests.\\nSecond line\n"
            "# TYPE requests_total counter\n"
            "requests_total{model=\"m\\\"1\",version=\"1\"} 18446744073709551615\n"
            "# HELP temperature A gauge\n"
            "# TYPE temperature gauge\n"
            "temperature 0.5\n"
            "# HELP latency_seconds Latency\n"
            "# TYPE latency_seconds histogram\n"
            "latency_seconds_bucket{model=\"a\",le=\"0.001\"} 1\n"
            "latency_seconds_bucket{model=\"a\",le=\"0.5\"} 2\n"
            "latency_seconds_bucket{model=\"a\",le=\"+Inf\"} 3\n"
            "latency_seconds_sum{model=\"a\"} 2.251\n"
            "latency_seconds_count{model=\"a\"} 3\n");
}

TEST(ExpositionTest, HistogramWithoutLabelsHasOnlyLe) {
  auto h = Histogram::Create({1}, 1);
  ASSERT_TRUE(h.ok());
  ExpositionWriter w;
  w.Histogram("x", {}, (*h)->Read());
  EXPECT_EQ(w.text(),
            "x_bucket{le=\"1\"} 0\n"
            "x_bucket{le=\"+Inf\"} 0\n"
            "x_sum 0\n"
            "x_count 0\n");
}

}  // namespace
}  // namespace kiln::server::metrics

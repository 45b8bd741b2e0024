// Writer of the Prometheus text exposition format, version 0.0.4
// (https://prometheus.io/docs/instrumenting/exposition_formats/).
//
// A family starts with its HELP and TYPE lines; its samples follow, each
// `name{label="value",...} value`. The caller writes all samples of a family
// right after its Family() call (the format requires a family's lines to be
// contiguous) and uses valid metric and label names; label values and help
// text are escaped here.
//
// Thread safety: none; one writer per scrape.
#ifndef KILN_SERVER_METRICS_EXPOSITION_H_
#define KILN_SERVER_METRICS_EXPOSITION_H_

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/string_view.h"
#include "server/metrics/histogram.h"

namespace kiln::server::metrics {

enum class MetricType { kCounter, kGauge, kHistogram };

using Labels = std::vector<std::pair<absl::string_view, absl::string_view>>;

// The content type of the format, for the HTTP response.
inline constexpr absl::string_view kExpositionContentType =
    "text/plain; version=0.0.4; charset=utf-8";

// Label values: backslash, double quote and line feed escaped.
std::string EscapeLabelValue(absl::string_view value);
// HELP text: backslash and line feed escaped.
std::string EscapeHelp(absl::string_view help);
// A sample value: the shortest text that reads back as the same double;
// "NaN", "+Inf", "-Inf" for the special values.
std::string FormatValue(double value);

class ExpositionWriter {
 public:
  // # HELP and # TYPE lines.
  void Family(absl::string_view name, absl::string_view help, MetricType type);

  // One sample line. Integers are written exactly (a double would round
  // counters above 2^53).
  void Sample(absl::string_view name, const Labels& labels, uint64_t value);
  void Sample(absl::string_view name, const Labels& labels, double value);

  // A histogram's samples: name_bucket{...,le="b"} for each bound and +Inf
  // (cumulative), then name_sum and name_count.
  void Histogram(absl::string_view name, const Labels& labels,
                 const HistogramSnapshot& histogram);

  const std::string& text() const { return text_; }
  std::string Take() { return std::move(text_); }

 private:
  void AppendSeries(absl::string_view name, absl::string_view suffix, const Labels& labels,
                    absl::string_view le = {});

  std::string text_;
};

}  // namespace kiln::server::metrics

#endif  // KILN_SERVER_METRICS_EXPOSITION_H_

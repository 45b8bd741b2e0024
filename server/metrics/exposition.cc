#include "server/metrics/exposition.h"

#include <charconv>
#include <cmath>

#include "absl/strings/str_cat.h"

namespace kiln::server::metrics {
namespace {

const char* TypeName(MetricType type) {
  switch (type) {
    case MetricType::kCounter:
      return "counter";
    case MetricType::kGauge:
      return "gauge";
    case MetricType::kHistogram:
      return "histogram";
  }
  return "untyped";
}

}  // namespace

std::string EscapeLabelValue(absl::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    switch (c) {
      case '\\':
        out += "\\\\";
        break;
      case '"':
        out += "\\\"";
        break;
      case '\n':
        out += "\\n";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string EscapeHelp(absl::string_view help) {
  std::string out;
  out.reserve(help.size());
  for (char c : help) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

std::string FormatValue(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  // The shortest text that reads back exactly (0.1 + 0.2 is
  // 0.30000000000000004, 0.0005 is not 0.00050000000000000001), in plain
  // decimals over the range bucket bounds and readings live in (0.0005, not
  // 5e-04, as Prometheus' own clients write `le`), else with an exponent.
  const double magnitude = std::fabs(value);
  const bool plain = magnitude == 0 || (magnitude >= 1e-6 && magnitude < 1e15);
  char buffer[64];
  const auto [end, error] =
      plain ? std::to_chars(buffer, buffer + sizeof(buffer), value, std::chars_format::fixed)
            : std::to_chars(buffer, buffer + sizeof(buffer), value);
  if (error != std::errc()) return absl::StrCat(value);
  return std::string(buffer, end);
}

void ExpositionWriter::Family(absl::string_view name, absl::string_view help, MetricType type) {
  absl::StrAppend(&text_, "# HELP ", name, " ", EscapeHelp(help), "\n# TYPE ", name, " ",
                  TypeName(type), "\n");
}

void ExpositionWriter::AppendSeries(absl::string_view name, absl::string_view suffix,
                                    const Labels& labels, absl::string_view le) {
  absl::StrAppend(&text_, name, suffix);
  if (labels.empty() && le.empty()) {
    text_ += ' ';
    return;
  }
  text_ += '{';
  bool first = true;
  for (const auto& [label, value] : labels) {
    if (!first) text_ += ',';
    first = false;
    absl::StrAppend(&text_, label, "=\"", EscapeLabelValue(value), "\"");
  }
  if (!le.empty()) {
    if (!first) text_ += ',';
    absl::StrAppend(&text_, "le=\"", le, "\"");
  }
  text_ += "} ";
}

void ExpositionWriter::Sample(absl::string_view name, const Labels& labels, uint64_t value) {
  AppendSeries(name, "", labels);
  absl::StrAppend(&text_, value, "\n");
}

void ExpositionWriter::Sample(absl::string_view name, const Labels& labels, double value) {
  AppendSeries(name, "", labels);
  absl::StrAppend(&text_, FormatValue(value), "\n");
}

void ExpositionWriter::Histogram(absl::string_view name, const Labels& labels,
                                 const HistogramSnapshot& histogram) {
  for (size_t i = 0; i < histogram.cumulative.size(); ++i) {
    const std::string le = i < histogram.upper_bounds.size()
                               ? FormatValue(histogram.upper_bounds[i])
                               : std::string("+Inf");
    AppendSeries(name, "_bucket", labels, le);
    absl::StrAppend(&text_, histogram.cumulative[i], "\n");
  }
  AppendSeries(name, "_sum", labels);
  absl::StrAppend(&text_, FormatValue(histogram.sum), "\n");
  AppendSeries(name, "_count", labels);
  absl::StrAppend(&text_, histogram.count, "\n");
}

}  // namespace kiln::server::metrics

#include "server/metrics/system_metrics.h"

#include <fstream>
#include <sstream>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace kiln::server::metrics {

absl::StatusOr<CpuTimes> ParseProcStat(absl::string_view text) {
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    std::vector<absl::string_view> fields =
        absl::StrSplit(line, ' ', absl::SkipEmpty());
    if (fields.empty() || fields[0] != "cpu") continue;
    // user nice system idle iowait irq softirq steal (guest and guest_nice
    // are already part of user and nice).
    uint64_t values[8] = {};
    size_t parsed = 0;
    for (size_t i = 1; i < fields.size() && parsed < 8; ++i, ++parsed) {
      if (!absl::SimpleAtoi(fields[i], &values[parsed])) {
        return absl::InvalidArgumentError(
            absl::StrCat("/proc/stat: bad number '", fields[i], "' in the cpu line"));
      }
    }
    if (parsed < 4) {
      return absl::InvalidArgumentError("/proc/stat: the cpu line has fewer than 4 fields");
    }
    CpuTimes times;
    for (uint64_t v : values) times.total += v;
    const uint64_t idle = values[3] + values[4];
    times.busy = times.total - idle;
    return times;
  }
  return absl::InvalidArgumentError("/proc/stat: no aggregate cpu line");
}

absl::StatusOr<MemoryInfo> ParseMeminfo(absl::string_view text) {
  std::optional<uint64_t> total_kb, available_kb;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    std::vector<absl::string_view> fields = absl::StrSplit(line, ' ', absl::SkipEmpty());
    if (fields.size() < 2) continue;
    uint64_t value = 0;
    if (!absl::SimpleAtoi(fields[1], &value)) continue;
    if (fields[0] == "MemTotal:") total_kb = value;
    if (fields[0] == "MemAvailable:") available_kb = value;
  }
  if (!total_kb || !available_kb) {
    return absl::InvalidArgumentError("/proc/meminfo: MemTotal or MemAvailable missing");
  }
  MemoryInfo info;
  info.total_bytes = *total_kb * 1024;
  info.used_bytes = *total_kb >= *available_kb ? (*total_kb - *available_kb) * 1024 : 0;
  return info;
}

absl::StatusOr<std::string> ReadProcFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot open ", path));
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

std::optional<double> CpuUtilization::Update(const CpuTimes& times, int64_t now_ns) {
  if (!start_) {
    start_ = times;
    start_ns_ = now_ns;
    return value_;
  }
  if (value_ && now_ns - start_ns_ < min_interval_ns_) return value_;
  // Counters only grow; a smaller reading (another source, a wrap) restarts.
  if (times.total < start_->total || times.busy < start_->busy) {
    start_ = times;
    start_ns_ = now_ns;
    return value_;
  }
  const uint64_t total = times.total - start_->total;
  if (total == 0) return value_;  // no jiffy has passed yet
  value_ = static_cast<double>(times.busy - start_->busy) / static_cast<double>(total);
  start_ = times;
  start_ns_ = now_ns;
  return value_;
}

}  // namespace kiln::server::metrics

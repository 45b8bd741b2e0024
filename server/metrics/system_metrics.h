// Host CPU and memory figures for the nv_cpu_* metrics, read from Linux's
// /proc as Triton reads them: utilization is the busy share of all cores'
// time between two readings of /proc/stat; used memory is MemTotal minus
// MemAvailable from /proc/meminfo.
#ifndef KILN_SERVER_METRICS_SYSTEM_METRICS_H_
#define KILN_SERVER_METRICS_SYSTEM_METRICS_H_

#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace kiln::server::metrics {

// Jiffies summed over all cores since boot.
struct CpuTimes {
  uint64_t busy = 0;   // total minus idle and iowait
  uint64_t total = 0;  // user+nice+system+idle+iowait+irq+softirq+steal
};

struct MemoryInfo {
  uint64_t total_bytes = 0;
  uint64_t used_bytes = 0;  // total - available
};

// The aggregate "cpu" line of /proc/stat's text. InvalidArgument when it is
// missing or has fewer than 4 numbers.
absl::StatusOr<CpuTimes> ParseProcStat(absl::string_view text);
// MemTotal and MemAvailable (kB) of /proc/meminfo's text. InvalidArgument
// when either is missing.
absl::StatusOr<MemoryInfo> ParseMeminfo(absl::string_view text);

// Reads a whole /proc file (their sizes are not known in advance).
absl::StatusOr<std::string> ReadProcFile(const std::string& path);

// CPU utilization between readings, at most one new window per
// `min_interval_ns`: a reading sooner than that (two scrapers, a retry)
// returns the last value instead of a ratio over a few jiffies.
//
// Thread safety: none; the caller serializes Update calls.
class CpuUtilization {
 public:
  explicit CpuUtilization(int64_t min_interval_ns) : min_interval_ns_(min_interval_ns) {}

  // Feeds a reading taken at `now_ns` (any monotonic clock). Returns the
  // utilization in [0, 1] of the latest window, or nullopt before a window
  // has been measured (the first reading only sets the start).
  std::optional<double> Update(const CpuTimes& times, int64_t now_ns);

 private:
  const int64_t min_interval_ns_;
  std::optional<CpuTimes> start_;
  int64_t start_ns_ = 0;
  std::optional<double> value_;
};

}  // namespace kiln::server::metrics

#endif  // KILN_SERVER_METRICS_SYSTEM_METRICS_H_

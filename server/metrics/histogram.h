// A Prometheus histogram with fixed buckets, updated without locks.
//
// Observations are unsigned integers in a base unit (nanoseconds, items);
// bucket bounds are given in the exposition unit (seconds, items) together
// with the number of base units per exposition unit: bounds {0.001, 0.01}
// with 1e9 base units per unit count nanoseconds into millisecond buckets
// and export seconds, as Prometheus conventions ask.
//
// Cost: Observe is a short search over the bounds and two relaxed atomic
// adds (the bucket and the sum); nothing allocates or locks. Each bucket
// holds its own (non-cumulative) count; Read accumulates them, so `_count`
// always equals the +Inf bucket.
//
// Thread safety: Observe and Read may run concurrently from any threads. A
// Read concurrent with an Observe may see the observation in its bucket but
// not yet in the sum; no count is ever torn or lost.
#ifndef KILN_SERVER_METRICS_HISTOGRAM_H_
#define KILN_SERVER_METRICS_HISTOGRAM_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <vector>

#include "absl/status/statusor.h"

namespace kiln::server::metrics {

// A histogram's state at one moment, in the exposition unit.
struct HistogramSnapshot {
  std::vector<double> upper_bounds;  // finite bounds, increasing (no +Inf)
  // Cumulative counts: cumulative[i] observations were <= upper_bounds[i];
  // the last element (one past the bounds) is the +Inf bucket = count.
  std::vector<uint64_t> cumulative;
  uint64_t count = 0;
  double sum = 0;
};

class Histogram {
 public:
  // InvalidArgument unless `upper_bounds` is non-empty, finite, >= 0 and
  // strictly increasing (after conversion to base units, so two bounds may
  // not fall on the same nanosecond), and base_units_per_unit > 0.
  static absl::StatusOr<std::unique_ptr<Histogram>> Create(
      std::vector<double> upper_bounds, double base_units_per_unit);

  // Counts `value` (base units) into the first bucket whose bound is >= it.
  void Observe(uint64_t value);

  HistogramSnapshot Read() const;

  const std::vector<double>& upper_bounds() const { return upper_bounds_; }

 private:
  Histogram(std::vector<double> upper_bounds, std::vector<uint64_t> base_bounds,
            double base_units_per_unit);

  const std::vector<double> upper_bounds_;
  const std::vector<uint64_t> base_bounds_;  // upper_bounds_ in base units
  const double base_units_per_unit_;
  // base_bounds_.size() + 1 buckets, the last one +Inf (not cumulative).
  const std::unique_ptr<std::atomic<uint64_t>[]> buckets_;
  std::atomic<uint64_t> sum_{0};  // base units
};

// Checks a list of bucket bounds as a flag or an option gives them:
// non-empty, finite, > 0, strictly increasing. The error names what is wrong.
absl::Status ValidateBucketBounds(const std::vector<double>& upper_bounds);

}  // namespace kiln::server::metrics

#endif  // KILN_SERVER_METRICS_HISTOGRAM_H_

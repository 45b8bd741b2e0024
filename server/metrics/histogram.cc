#include "server/metrics/histogram.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"

namespace kiln::server::metrics {

absl::Status ValidateBucketBounds(const std::vector<double>& upper_bounds) {
  if (upper_bounds.empty()) {
    return absl::InvalidArgumentError("histogram buckets: at least one bound is needed");
  }
  for (size_t i = 0; i < upper_bounds.size(); ++i) {
    const double bound = upper_bounds[i];
    if (!std::isfinite(bound) || bound <= 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "histogram buckets: bound ", bound, " is not a finite positive number"));
    }
    if (i > 0 && bound <= upper_bounds[i - 1]) {
      return absl::InvalidArgumentError(absl::StrCat(
          "histogram buckets: bounds must increase, got ", upper_bounds[i - 1], " then ",
          bound));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<Histogram>> Histogram::Create(std::vector<double> upper_bounds,
                                                             double base_units_per_unit) {
  if (!(base_units_per_unit > 0) || !std::isfinite(base_units_per_unit)) {
    return absl::InvalidArgumentError(
        absl::StrCat("histogram: base units per unit must be positive, got ",
                     base_units_per_unit));
  }
  if (absl::Status valid = ValidateBucketBounds(upper_bounds); !valid.ok()) return valid;
  std::vector<uint64_t> base_bounds;
  base_bounds.reserve(upper_bounds.size());
  for (double bound : upper_bounds) {
    // Rounded, not truncated: 0.0005 s is 500000 ns even where the product
    // comes out as 499999.99999999994.
    const double base = std::round(bound * base_units_per_unit);
    if (base >= 1.8e19) {
      return absl::InvalidArgumentError(
          absl::StrCat("histogram buckets: bound ", bound, " is too large"));
    }
    const uint64_t converted = static_cast<uint64_t>(base);
    if (!base_bounds.empty() && converted <= base_bounds.back()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "histogram buckets: bounds ", upper_bounds[base_bounds.size() - 1], " and ", bound,
          " are closer than the resolution of the observed values"));
    }
    base_bounds.push_back(converted);
  }
  return std::unique_ptr<Histogram>(
      new Histogram(std::move(upper_bounds), std::move(base_bounds), base_units_per_unit));
}

Histogram::Histogram(std::vector<double> upper_bounds, std::vector<uint64_t> base_bounds,
                     double base_units_per_unit)
    : upper_bounds_(std::move(upper_bounds)),
      base_bounds_(std::move(base_bounds)),
      base_units_per_unit_(base_units_per_unit),
      buckets_(new std::atomic<uint64_t>[base_bounds_.size() + 1]) {
  for (size_t i = 0; i <= base_bounds_.size(); ++i) {
    buckets_[i].store(0, std::memory_order_relaxed);
  }
}

void Histogram::Observe(uint64_t value) {
  // `le` semantics: the first bound >= value; past the last bound, +Inf.
  const size_t bucket =
      std::lower_bound(base_bounds_.begin(), base_bounds_.end(), value) - base_bounds_.begin();
  buckets_[bucket].fetch_add(1, std::memory_order_relaxed);
  sum_.fetch_add(value, std::memory_order_relaxed);
}

HistogramSnapshot Histogram::Read() const {
  HistogramSnapshot snapshot;
  snapshot.upper_bounds = upper_bounds_;
  snapshot.cumulative.reserve(base_bounds_.size() + 1);
  uint64_t running = 0;
  for (size_t i = 0; i <= base_bounds_.size(); ++i) {
    running += buckets_[i].load(std::memory_order_relaxed);
    snapshot.cumulative.push_back(running);
  }
  snapshot.count = running;
  snapshot.sum =
      static_cast<double>(sum_.load(std::memory_order_relaxed)) / base_units_per_unit_;
  return snapshot;
}

}  // namespace kiln::server::metrics

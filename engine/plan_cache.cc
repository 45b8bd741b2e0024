#include "engine/plan_cache.h"

#include <algorithm>
#include <exception>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace kiln::engine {
namespace {

// Short names keep signatures readable in logs and metric labels, where a
// BERT request's key already spans several inputs.
const char* ShortDTypeName(DType dtype) {
  switch (dtype) {
    case DType::kBool: return "bool";
    case DType::kUInt8: return "u8";
    case DType::kInt8: return "i8";
    case DType::kInt16: return "i16";
    case DType::kInt32: return "i32";
    case DType::kInt64: return "i64";
    case DType::kFloat16: return "f16";
    case DType::kBFloat16: return "bf16";
    case DType::kFloat32: return "f32";
    case DType::kFloat64: return "f64";
  }
  return "?";
}

}  // namespace

std::string Signature::ToString() const {
  std::string out;
  for (size_t i = 0; i < shapes.size(); ++i) {
    if (i > 0) out += ";";
    out += i < dtypes.size() ? ShortDTypeName(dtypes[i]) : "?";
    out += ShapeToString(shapes[i]);
  }
  return out;
}

Signature SignatureOf(const std::vector<Tensor>& inputs) {
  Signature signature;
  signature.dtypes.reserve(inputs.size());
  signature.shapes.reserve(inputs.size());
  for (const Tensor& input : inputs) {
    signature.dtypes.push_back(input.dtype);
    signature.shapes.push_back(input.shape);
  }
  return signature;
}

// The fields are guarded by the owning cache's `mu_`; `finished` is signalled
// once `done` is set, after `mu_` is released.
struct PlanCache::PendingBuild {
  bool done = false;
  absl::StatusOr<std::shared_ptr<CachedPlan>> result;
  absl::CondVar finished;
};

absl::StatusOr<std::unique_ptr<PlanCache>> PlanCache::Create(
    const PlanCacheOptions& options) {
  if (options.capacity == 0) {
    return absl::InvalidArgumentError(
        "plan cache capacity must be at least 1, got 0");
  }
  int64_t previous = 0;
  for (int64_t bucket : options.batch_buckets) {
    if (bucket <= previous) {
      std::string buckets;
      for (int64_t b : options.batch_buckets) {
        absl::StrAppend(&buckets, buckets.empty() ? "" : ",", b);
      }
      return absl::InvalidArgumentError(absl::StrCat(
          "plan cache batch buckets must be positive and strictly "
          "increasing, got [",
          buckets, "]"));
    }
    previous = bucket;
  }
  return std::unique_ptr<PlanCache>(new PlanCache(options));
}

PlanCache::PlanCache(PlanCacheOptions options) : options_(std::move(options)) {}

Signature PlanCache::Bucketed(const Signature& signature) const {
  Signature bucketed = signature;
  if (options_.batch_buckets.empty()) return bucketed;
  for (std::vector<int64_t>& shape : bucketed.shapes) {
    if (shape.empty()) continue;  // a scalar has no batch dimension
    auto bucket = std::lower_bound(options_.batch_buckets.begin(),
                                   options_.batch_buckets.end(), shape[0]);
    if (bucket != options_.batch_buckets.end()) shape[0] = *bucket;
  }
  return bucketed;
}

absl::StatusOr<std::shared_ptr<CachedPlan>> PlanCache::GetOrBuild(
    const Signature& key, const Builder& build) {
  std::shared_ptr<PendingBuild> pending;
  {
    absl::MutexLock lock(&mu_);
    if (std::shared_ptr<CachedPlan> hit = LookupLocked(key)) return hit;
    auto in_flight = pending_.find(key);
    if (in_flight != pending_.end()) {
      ++stats_.waits;
      // Hold our own reference: the builder erases the map entry when done.
      std::shared_ptr<PendingBuild> build_to_wait_for = in_flight->second;
      while (!build_to_wait_for->done) {
        build_to_wait_for->finished.Wait(&mu_);
      }
      return build_to_wait_for->result;
    }
    ++stats_.builds;
    pending = std::make_shared<PendingBuild>();
    pending_.emplace(key, pending);
  }

  // Compiling takes seconds; holding the lock would stall every other model
  // input shape, hits included.
  absl::StatusOr<std::shared_ptr<CachedPlan>> result = RunBuilder(build);
  FinishBuild(key, pending, result);
  return result;
}

std::shared_ptr<CachedPlan> PlanCache::LookupLocked(const Signature& key) {
  auto cached = cached_.find(key);
  if (cached == cached_.end()) {
    ++stats_.misses;
    return nullptr;
  }
  ++stats_.hits;
  lru_.splice(lru_.begin(), lru_, cached->second.lru_position);
  return cached->second.plan;
}

std::shared_ptr<CachedPlan> PlanCache::GetOrStartBuild(const Signature& key,
                                                       const std::function<Builder()>& prepare,
                                                       const Launcher& launch) {
  std::shared_ptr<PendingBuild> pending;
  {
    absl::MutexLock lock(&mu_);
    if (std::shared_ptr<CachedPlan> hit = LookupLocked(key)) return hit;
    if (pending_.count(key)) return nullptr;  // under way
    ++stats_.builds;
    pending = std::make_shared<PendingBuild>();
    pending_.emplace(key, pending);
  }
  Builder build;
  try {
    build = prepare();
  } catch (const std::exception& e) {
    // The key must not stay "under way" forever.
    FinishBuild(key, pending, absl::InternalError(absl::StrCat("preparing the build threw: ",
                                                               std::string(e.what()))));
    return nullptr;
  }
  launch([this, key, build = std::move(build), pending]() {
    FinishBuild(key, pending, RunBuilder(build));
  });
  return nullptr;
}

void PlanCache::FinishBuild(const Signature& key, const std::shared_ptr<PendingBuild>& pending,
                            absl::StatusOr<std::shared_ptr<CachedPlan>> result) {
  {
    absl::MutexLock lock(&mu_);
    if (result.ok()) {
      InsertLocked(key, *result);
    } else {
      // Not cached: a transient failure (memory, a bad first input) must not
      // pin the key to an error; the next request retries.
      ++stats_.build_failures;
    }
    pending->result = std::move(result);
    pending->done = true;
    pending_.erase(key);
  }
  // Waking waiters after unlocking spares them from blocking on `mu_` again.
  pending->finished.SignalAll();
}

absl::StatusOr<std::shared_ptr<CachedPlan>> PlanCache::RunBuilder(
    const Builder& build) {
  // An exception escaping here would leave the waiters blocked forever, so
  // every way a build can fail becomes a Status.
  absl::StatusOr<std::shared_ptr<CachedPlan>> result;
  try {
    result = build();
  } catch (const std::exception& e) {
    return absl::InternalError(
        absl::StrCat("plan build threw: ", std::string(e.what())));
  } catch (...) {
    return absl::InternalError("plan build threw a non-standard exception");
  }
  if (result.ok() && *result == nullptr) {
    return absl::InternalError("plan build returned no plan");
  }
  return result;
}

void PlanCache::InsertLocked(const Signature& key,
                             std::shared_ptr<CachedPlan> plan) {
  lru_.push_front(key);
  cached_[key] = CachedEntry{std::move(plan), lru_.begin()};
  while (cached_.size() > options_.capacity) {
    // Dropping our reference only; callers holding the plan keep it alive.
    cached_.erase(lru_.back());
    lru_.pop_back();
    ++stats_.evictions;
  }
}

PlanCacheStats PlanCache::stats() const {
  absl::MutexLock lock(&mu_);
  PlanCacheStats stats = stats_;
  stats.size = cached_.size();
  return stats;
}

std::vector<Signature> PlanCache::Keys() const {
  absl::MutexLock lock(&mu_);
  return std::vector<Signature>(lru_.begin(), lru_.end());
}

}  // namespace kiln::engine

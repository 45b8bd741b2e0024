// The shape tracker's plan cache: compiled plans keyed by the dtype and shape
// of each input, built once per key and evicted least-recently-used.
//
// A model compiles one plan per input signature on first use. The cache makes
// sure that a burst of requests for a new shape triggers exactly one build:
// the first caller builds, the others wait for that build and share its
// result. Batch bucketing (rounding dim 0 up to a configured size) bounds the
// number of plans a model with variable batch sizes can accumulate.
//
// Ownership: plans are held by std::shared_ptr. An evicted plan stays alive
// until the last caller that holds it drops it, so eviction never pulls a
// plan out from under a running request.
//
// Thread safety: every PlanCache method may be called from many threads at
// once. A build runs without the cache lock held, so requests for other keys
// (hits and other builds) proceed while it runs.
#ifndef KILN_ENGINE_PLAN_CACHE_H_
#define KILN_ENGINE_PLAN_CACHE_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <list>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "engine/tensor.h"

namespace kiln::engine {

// The cache key: dtype and shape of each input, in input order.
struct Signature {
  std::vector<DType> dtypes;
  std::vector<std::vector<int64_t>> shapes;

  // "f32[1,3,224,224];i64[1,128]" - for logs and metrics labels.
  std::string ToString() const;

  friend bool operator==(const Signature& a, const Signature& b) {
    return a.dtypes == b.dtypes && a.shapes == b.shapes;
  }
  friend bool operator!=(const Signature& a, const Signature& b) {
    return !(a == b);
  }
  template <typename H>
  friend H AbslHashValue(H h, const Signature& s) {
    return H::combine(std::move(h), s.dtypes, s.shapes);
  }
};

// The signature of `inputs` as given (no bucketing).
Signature SignatureOf(const std::vector<Tensor>& inputs);

struct PlanCacheOptions {
  // Most plans kept; the least recently used is evicted beyond it. Must be > 0.
  size_t capacity = 16;
  // Batch buckets, strictly increasing and positive, e.g. {1, 2, 4, 8, 16}.
  // When set, Bucketed() rounds dim 0 of every input up to the smallest
  // bucket >= it; a dim 0 larger than every bucket is left as it is. Empty:
  // no bucketing.
  std::vector<int64_t> batch_buckets;
};

// Counters since Create; what the kiln_* plan-cache metrics report.
// Every GetOrBuild call is counted once, in `hits` or in `misses`.
struct PlanCacheStats {
  uint64_t hits = 0;            // served from a cached plan
  uint64_t misses = 0;          // found no cached plan (built or waited)
  uint64_t builds = 0;          // builder calls (misses that did not wait)
  uint64_t build_failures = 0;  // builder calls that returned an error
  uint64_t evictions = 0;       // plans dropped to stay within capacity
  uint64_t waits = 0;           // misses that waited on another caller's build
  size_t size = 0;              // plans cached now (builds in flight excluded)
};

// What the cache holds. The plan builder derives its plan type from this;
// the cache only keeps it alive.
class CachedPlan {
 public:
  virtual ~CachedPlan() = default;
};

class PlanCache {
 public:
  // Errors: InvalidArgument when capacity is 0 or the batch buckets are not
  // positive and strictly increasing.
  static absl::StatusOr<std::unique_ptr<PlanCache>> Create(
      const PlanCacheOptions& options);

  // Builds the plan for one key. Called at most once per key at a time, on
  // the thread of the request that missed, without the cache lock held. It
  // may block for as long as a compilation takes. Returning an error, a null
  // plan or throwing counts as a failed build.
  using Builder = std::function<absl::StatusOr<std::shared_ptr<CachedPlan>>()>;

  // Returns the plan for `key`, running `build` on a miss. `key` is used as
  // given: callers that bucket call Bucketed() first (they need the bucketed
  // shape anyway to pad their inputs).
  //
  // Exactly one build per key runs even when many threads ask at once: the
  // others block until it finishes and get its result. A failed build is
  // returned to its caller and to every waiter, and is not cached, so the
  // next request for the key builds again. Errors: whatever `build` returned;
  // Internal when it returned a null plan or threw.
  absl::StatusOr<std::shared_ptr<CachedPlan>> GetOrBuild(const Signature& key,
                                                         const Builder& build)
      ABSL_LOCKS_EXCLUDED(mu_);

  // The asynchronous form (a model's async_compile option): returns the plan
  // for `key` when it is cached, else null at once, after making sure a build
  // for `key` is under way: the first caller to miss calls `prepare` on its
  // own thread (only then: a hit costs nothing more, so copies of what the
  // build needs are made there) and hands a job running the builder it
  // returned to `launch`, which must run it on another thread (or inline, in
  // tests). Callers missing while it runs get null without waiting (a miss,
  // not a wait). When the job finishes its plan is cached; a failed build is
  // not, so a later miss starts another. Synchronous callers of the same key
  // wait for an asynchronous build as for any other.
  using Launcher = std::function<void(std::function<void()> job)>;
  std::shared_ptr<CachedPlan> GetOrStartBuild(const Signature& key,
                                              const std::function<Builder()>& prepare,
                                              const Launcher& launch) ABSL_LOCKS_EXCLUDED(mu_);

  // `signature` with dim 0 of every input of rank >= 1 rounded up to the
  // configured batch buckets; unchanged when there are none.
  Signature Bucketed(const Signature& signature) const;

  PlanCacheStats stats() const ABSL_LOCKS_EXCLUDED(mu_);

  // Keys of the cached plans, most recently used first.
  std::vector<Signature> Keys() const ABSL_LOCKS_EXCLUDED(mu_);

  const PlanCacheOptions& options() const { return options_; }

 private:
  // A build in flight; waiters share it through a shared_ptr so it outlives
  // its entry in `pending_`.
  struct PendingBuild;

  struct CachedEntry {
    std::shared_ptr<CachedPlan> plan;
    std::list<Signature>::iterator lru_position;
  };

  explicit PlanCache(PlanCacheOptions options);

  // Runs `build`, turning a null plan or an exception into an error.
  static absl::StatusOr<std::shared_ptr<CachedPlan>> RunBuilder(
      const Builder& build);

  // The cached plan for `key` (now the most recently used), counted as a
  // hit, or null, counted as a miss.
  std::shared_ptr<CachedPlan> LookupLocked(const Signature& key) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // Records the outcome of the build `pending` for `key` and wakes its
  // waiters.
  void FinishBuild(const Signature& key, const std::shared_ptr<PendingBuild>& pending,
                   absl::StatusOr<std::shared_ptr<CachedPlan>> result) ABSL_LOCKS_EXCLUDED(mu_);

  // Caches `plan` under `key` as the most recently used; evicts beyond
  // capacity.
  void InsertLocked(const Signature& key, std::shared_ptr<CachedPlan> plan)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const PlanCacheOptions options_;

  mutable absl::Mutex mu_;
  // Most recently used first.
  std::list<Signature> lru_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<Signature, CachedEntry> cached_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<Signature, std::shared_ptr<PendingBuild>> pending_
      ABSL_GUARDED_BY(mu_);
  PlanCacheStats stats_ ABSL_GUARDED_BY(mu_);
};

}  // namespace kiln::engine

#endif  // KILN_ENGINE_PLAN_CACHE_H_

#include "server/repository/model_stats.h"

#include <algorithm>

namespace kiln::server {
namespace {

constexpr int64_t kMaxBatchSlots = 1024;
constexpr double kNanosPerSecond = 1e9;

void AddTo(DurationStat* to, uint64_t duration_ns) {
  ++to->count;
  to->ns += duration_ns;
}

}  // namespace

const char* FailureReasonName(FailureReason reason) {
  switch (reason) {
    case FailureReason::kRejected:
      return "REJECTED";
    case FailureReason::kCanceled:
      return "CANCELED";
    case FailureReason::kBackend:
      return "BACKEND";
    case FailureReason::kOther:
      return "OTHER";
  }
  return "OTHER";
}

const std::vector<double>& ModelStats::BatchSizeBuckets() {
  static const std::vector<double>* const buckets =
      new std::vector<double>{1, 2, 4, 8, 16, 32, 64, 128};
  return *buckets;
}

const std::vector<double>& ModelStats::CompileBucketsSeconds() {
  static const std::vector<double>* const buckets = new std::vector<double>{
      0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600};
  return *buckets;
}

absl::StatusOr<std::unique_ptr<ModelStats>> ModelStats::Create(const Options& options) {
  const size_t slots =
      static_cast<size_t>(std::clamp<int64_t>(options.max_batch_size, 1, kMaxBatchSlots)) + 1;
  std::unique_ptr<ModelStats> stats(new ModelStats(slots));
  if (!options.histograms) return stats;
  auto latency = [&]() {
    return metrics::Histogram::Create(options.latency_buckets_seconds, kNanosPerSecond);
  };
  auto request = latency();
  if (!request.ok()) return request.status();
  stats->request_duration_ = *std::move(request);
  stats->queue_duration_ = *latency();
  stats->compute_infer_duration_ = *latency();
  stats->batch_size_ = *metrics::Histogram::Create(BatchSizeBuckets(), 1);
  stats->plan_compile_duration_ =
      *metrics::Histogram::Create(CompileBucketsSeconds(), kNanosPerSecond);
  return stats;
}

ModelStats::ModelStats() : ModelStats(2) {}

ModelStats::ModelStats(size_t batch_slots)
    : batch_slot_count_(batch_slots), batch_slots_(new BatchSlot[batch_slots]) {}

void ModelStats::RecordSuccess(uint64_t batch_size, const RequestTimings& timings,
                               uint64_t now_ms) {
  last_inference_ms_.store(now_ms, std::memory_order_relaxed);
  inference_count_.fetch_add(batch_size, std::memory_order_relaxed);
  success_.Add(timings.request_ns);
  queue_.Add(timings.queue_ns);
  compute_input_.Add(timings.compute_input_ns);
  compute_infer_.Add(timings.compute_infer_ns);
  compute_output_.Add(timings.compute_output_ns);
  if (request_duration_ != nullptr) {
    request_duration_->Observe(timings.request_ns);
    queue_duration_->Observe(timings.queue_ns);
    compute_infer_duration_->Observe(timings.compute_infer_ns);
  }
}

void ModelStats::RecordExecution(uint64_t batch_size, uint64_t compute_input_ns,
                                 uint64_t compute_infer_ns, uint64_t compute_output_ns) {
  execution_count_.fetch_add(1, std::memory_order_relaxed);
  if (batch_size_ != nullptr) batch_size_->Observe(batch_size);
  if (batch_size < batch_slot_count_) {
    BatchSlot& slot = batch_slots_[batch_size];
    slot.compute_input.Add(compute_input_ns);
    slot.compute_infer.Add(compute_infer_ns);
    slot.compute_output.Add(compute_output_ns);
    return;
  }
  std::lock_guard<std::mutex> lock(overflow_mu_);
  BatchStat& batch = overflow_[batch_size];
  AddTo(&batch.compute_input, compute_input_ns);
  AddTo(&batch.compute_infer, compute_infer_ns);
  AddTo(&batch.compute_output, compute_output_ns);
}

void ModelStats::RecordFailure(FailureReason reason, uint64_t request_ns, uint64_t now_ms) {
  last_inference_ms_.store(now_ms, std::memory_order_relaxed);
  fail_.Add(request_ns);
  fail_by_reason_[static_cast<int>(reason)].fetch_add(1, std::memory_order_relaxed);
}

void ModelStats::RecordPlanBuild(uint64_t build_ns) {
  if (plan_compile_duration_ != nullptr) plan_compile_duration_->Observe(build_ns);
}

ModelStatsSnapshot ModelStats::Snapshot() const {
  ModelStatsSnapshot s;
  s.last_inference_ms = last_inference_ms_.load(std::memory_order_relaxed);
  s.inference_count = inference_count_.load(std::memory_order_relaxed);
  s.execution_count = execution_count_.load(std::memory_order_relaxed);
  s.success = success_.Load();
  s.fail = fail_.Load();
  s.queue = queue_.Load();
  s.compute_input = compute_input_.Load();
  s.compute_infer = compute_infer_.Load();
  s.compute_output = compute_output_.Load();
  for (int i = 0; i < kFailureReasonCount; ++i) {
    s.fail_by_reason[i] = fail_by_reason_[i].load(std::memory_order_relaxed);
  }
  for (size_t size = 0; size < batch_slot_count_; ++size) {
    const BatchSlot& slot = batch_slots_[size];
    if (slot.compute_infer.count.load(std::memory_order_relaxed) == 0) continue;
    BatchStat& out = s.batch_stats[size];
    out.compute_input = slot.compute_input.Load();
    out.compute_infer = slot.compute_infer.Load();
    out.compute_output = slot.compute_output.Load();
  }
  std::lock_guard<std::mutex> lock(overflow_mu_);
  for (const auto& [size, batch] : overflow_) s.batch_stats[size] = batch;
  return s;
}

}  // namespace kiln::server

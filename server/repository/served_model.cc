#include "server/repository/served_model.h"

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "config/engine_options.h"
#include "engine/op_libraries.h"
#include "server/log.h"
#include "server/repository/model_warmup.h"

namespace kiln::server {
namespace {

int InstanceCount(const inference::ModelConfig& config) {
  int count = 0;
  for (const auto& group : config.instance_group()) count += group.count();
  return std::max(count, 1);
}

// "dynamic batching: max batch 32, preferred [8,16], delay 500 us, ..."
std::string DescribeScheduling(const inference::ModelConfig& config) {
  if (!config.has_dynamic_batching() || config.max_batch_size() <= 0) {
    return "no dynamic batching: each request runs alone";
  }
  const inference::ModelDynamicBatching& batching = config.dynamic_batching();
  std::string text = absl::StrCat(
      "dynamic batching: max batch ", config.max_batch_size(), ", preferred [",
      absl::StrJoin(batching.preferred_batch_size(), ","), "], delay ",
      batching.max_queue_delay_microseconds(), " us");
  if (batching.preserve_ordering()) absl::StrAppend(&text, ", preserve ordering");
  if (batching.priority_levels() > 0) {
    absl::StrAppend(&text, ", ", batching.priority_levels(),
                    " priority levels (default ",
                    batching.default_priority_level(), ")");
  }
  const inference::ModelQueuePolicy& policy = batching.default_queue_policy();
  if (policy.max_queue_size() > 0) {
    absl::StrAppend(&text, ", max queue ", policy.max_queue_size());
  }
  if (policy.default_timeout_microseconds() > 0) {
    absl::StrAppend(&text, ", timeout ", policy.default_timeout_microseconds(),
                    " us (",
                    policy.timeout_action() == inference::ModelQueuePolicy::DELAY
                        ? "DELAY"
                        : "REJECT",
                    ")");
  }
  return text;
}

// Runs the config's model_warmup samples on the engine (which compiles the
// plans for their shapes). Any failure fails the load, as in Triton.
absl::Status RunWarmup(const ServedModel::Options& options,
                       const std::string& label, engine::Model& model) {
  if (options.config.model_warmup_size() == 0) return absl::OkStatus();
  const std::string model_dir =
      std::filesystem::path(options.model_path).parent_path().parent_path();
  auto samples = MakeWarmupSamples(options.config, model_dir);
  if (!samples.ok()) return samples.status();
  for (const WarmupSample& sample : *samples) {
    const auto start = std::chrono::steady_clock::now();
    for (int i = 0; i < sample.count; ++i) {
      auto outputs = model.Run(sample.inputs);
      if (!outputs.ok()) {
        return absl::Status(
            outputs.status().code(),
            absl::StrCat("model ", label, ": warmup '", sample.name, "' run ",
                         i + 1, " of ", sample.count, " failed: ",
                         outputs.status().message()));
      }
    }
    LogInfo(absl::StrFormat(
        "model %s: warmup '%s' (batch %d, %d run(s)) took %.3f s", label,
        sample.name, sample.batch_size, sample.count,
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
            .count()));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::shared_ptr<ServedModel>> ServedModel::Load(
    const Options& options) {
  const auto load_start = std::chrono::steady_clock::now();
  const std::string label =
      absl::StrCat("'", options.name, "' version ", options.version);
  ModelStats::Options stats_options;
  stats_options.max_batch_size = options.config.max_batch_size();
  stats_options.histograms = options.histograms;
  stats_options.latency_buckets_seconds = options.latency_buckets_seconds;
  auto stats = ModelStats::Create(stats_options);
  if (!stats.ok()) {
    return absl::Status(stats.status().code(),
                        absl::StrCat("model ", label, ": ", stats.status().message()));
  }
  const int instances = InstanceCount(options.config);
  const int cores =
      static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  const int default_threads = options.intra_op_threads > 0
                                  ? options.intra_op_threads
                                  : std::max(1, cores / instances);

  // Config parameters, then KILN_* environment variables, then defaults.
  auto resolved = config::ResolveEngineOptions(options.config);
  if (!resolved.ok()) return resolved.status();
  engine::ModelOptions engine_options;
  engine_options.label = label;
  engine_options.intra_op_threads = resolved->intra_op_threads > 0
                                        ? resolved->intra_op_threads
                                        : default_threads;
  engine_options.inter_op_threads = resolved->inter_op_threads;
  engine_options.optimization_level = resolved->optimization_level;
  switch (resolved->precision) {
    case config::Precision::kAuto:
      engine_options.precision = engine::PrecisionPolicy::kAuto;
      break;
    case config::Precision::kFp32:
      engine_options.precision = engine::PrecisionPolicy::kFp32;
      break;
    case config::Precision::kBf16:
      engine_options.precision = engine::PrecisionPolicy::kBf16;
      break;
  }
  engine_options.accuracy_check = resolved->accuracy_check;
  engine_options.async_compile = resolved->async_compile;
  engine_options.plan_cache_size = resolved->plan_cache_size;
  engine_options.batch_buckets = resolved->batch_buckets;
  // The batcher forms batches of any size up to max_batch_size: unless the
  // user chose buckets, bound the number of plans (each a compile) with the
  // default buckets, and keep them all in the plan cache.
  const bool batching = options.config.has_dynamic_batching() &&
                        options.config.max_batch_size() > 0;
  if (batching && resolved->batch_buckets.empty() &&
      resolved->sources["batch_buckets"] == config::kFromDefault) {
    engine_options.batch_buckets =
        DefaultBatchBuckets(options.config.max_batch_size());
    resolved->sources["batch_buckets"] = "dynamic batching default";
    resolved->batch_buckets = engine_options.batch_buckets;
    if (resolved->sources["plan_cache_size"] == config::kFromDefault) {
      engine_options.plan_cache_size = std::max<int64_t>(
          engine_options.plan_cache_size,
          static_cast<int64_t>(engine_options.batch_buckets.size()) + 4);
      resolved->plan_cache_size = engine_options.plan_cache_size;
    }
  }
  engine_options.log = [](const std::string& line) { LogInfo(line); };
  // Warmup builds count too: the stats outlive the engine model (declared
  // before it here and in ServedModel).
  ModelStats* stats_sink = stats->get();
  engine_options.on_plan_built = [stats_sink](double seconds) {
    stats_sink->RecordPlanBuild(static_cast<uint64_t>(seconds * 1e9));
  };
  for (const auto& input : options.config.input()) {
    engine_options.input_names.push_back(input.name());
  }

  LogInfo(absl::StrCat("loading model ", label, " from ", options.model_path,
                       " (", instances, " instance(s), ",
                       engine_options.intra_op_threads,
                       " intra-op thread(s) each; ",
                       DescribeScheduling(options.config),
                       "); engine options: ",
                       config::DescribeEngineOptions(*resolved)));
  static const bool libraries_logged = [] {
    for (const std::string& line : engine::LoadOperatorLibraries()) LogInfo(line);
    return true;
  }();
  (void)libraries_logged;
  auto model = engine::Model::Load(options.model_path, engine_options);
  if (!model.ok()) {
    return absl::Status(model.status().code(),
                        absl::StrCat("model ", label, ": ",
                                     model.status().message()));
  }
  const engine::LoadReport& report = (*model)->load_report();
  LogInfo(absl::StrCat("model ", label, ": ", report.threads));
  if (!report.freeze_error.empty()) {
    LogWarning(absl::StrCat("model ", label,
                            ": freezing failed, serving the module unfrozen (plans capture the "
                            "weights forward() never reassigns): ",
                            report.freeze_error));
  }
  if (!report.pass_error.empty()) {
    LogWarning(absl::StrCat("model ", label, ": a graph pass failed (", report.pass_error,
                            "); plans are built from the graph as loaded"));
  }
  if (auto warmed = RunWarmup(options, label, **model); !warmed.ok()) {
    return warmed;
  }
  std::shared_ptr<ServedModel> served(
      new ServedModel(options, *std::move(stats), *std::move(model)));

  ModelScheduler::Options scheduler_options;
  scheduler_options.instance_count = instances;
  scheduler_options.label = label;
  scheduler_options.batching = BatchPolicyFromConfig(options.config);
  scheduler_options.batching.plan_batch_sizes = engine_options.batch_buckets;
  scheduler_options.queue = QueueOptionsFromConfig(options.config);
  scheduler_options.preserve_ordering =
      options.config.dynamic_batching().preserve_ordering();
  ModelStats* model_stats = served->stats_.get();
  scheduler_options.on_execution = [model_stats](const ExecutionRecord& record) {
    model_stats->RecordExecution(record.batch_size, record.compute_input_ns,
                                 record.compute_infer_ns, record.compute_output_ns);
  };
  engine::Model* engine_model = served->model_.get();
  auto scheduler = ModelScheduler::Create(
      std::move(scheduler_options),
      [engine_model](const std::vector<engine::Tensor>& inputs) {
        return engine_model->Run(inputs);
      });
  if (!scheduler.ok()) return scheduler.status();
  served->scheduler_ = *std::move(scheduler);
  served->load_seconds_ = std::chrono::duration<double>(
                              std::chrono::steady_clock::now() - load_start)
                              .count();
  LogInfo(absl::StrFormat("model %s is READY (loaded in %.2f s, %s)", label,
                          report.load_seconds,
                          report.frozen ? "frozen" : "not frozen"));
  return served;
}

ServedModel::ServedModel(Options options, std::unique_ptr<ModelStats> stats,
                         std::unique_ptr<engine::Model> model)
    : options_(std::move(options)), stats_(std::move(stats)), model_(std::move(model)) {}

ServedModel::~ServedModel() { Shutdown(); }

absl::Status ServedModel::Enqueue(std::unique_ptr<InferenceJob> job) {
  return scheduler_->Enqueue(std::move(job));
}

void ServedModel::Shutdown() {
  if (scheduler_ != nullptr) scheduler_->Shutdown();
}

}  // namespace kiln::server

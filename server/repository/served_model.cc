#include "server/repository/served_model.h"

#include <algorithm>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "config/engine_options.h"
#include "engine/op_libraries.h"
#include "server/log.h"

namespace kiln::server {
namespace {

int InstanceCount(const inference::ModelConfig& config) {
  int count = 0;
  for (const auto& group : config.instance_group()) count += group.count();
  return std::max(count, 1);
}

}  // namespace

absl::StatusOr<std::shared_ptr<ServedModel>> ServedModel::Load(
    const Options& options) {
  const std::string label =
      absl::StrCat("'", options.name, "' version ", options.version);
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
  engine_options.plan_cache_size = resolved->plan_cache_size;
  engine_options.batch_buckets = resolved->batch_buckets;
  engine_options.log = [](const std::string& line) { LogInfo(line); };
  for (const auto& input : options.config.input()) {
    engine_options.input_names.push_back(input.name());
  }

  LogInfo(absl::StrCat("loading model ", label, " from ", options.model_path,
                       " (", instances, " instance(s), ",
                       engine_options.intra_op_threads,
                       " intra-op thread(s) each); engine options: ",
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
  if (!report.freeze_error.empty()) {
    LogWarning(absl::StrCat("model ", label,
                            ": freezing failed, serving the module unfrozen: ",
                            report.freeze_error));
  }
  if (!report.pass_error.empty()) {
    LogWarning(absl::StrCat("model ", label, ": a graph pass failed (", report.pass_error,
                            "); plans are built from the graph as loaded"));
  }
  std::shared_ptr<ServedModel> served(
      new ServedModel(options, *std::move(model)));

  InstancePool::Options pool_options;
  pool_options.instance_count = instances;
  pool_options.label = label;
  engine::Model* engine_model = served->model_.get();
  auto pool = InstancePool::Create(
      pool_options, [engine_model](const std::vector<engine::Tensor>& inputs) {
        return engine_model->Run(inputs);
      });
  if (!pool.ok()) return pool.status();
  served->pool_ = *std::move(pool);
  LogInfo(absl::StrFormat("model %s is READY (loaded in %.2f s, %s)", label,
                          report.load_seconds,
                          report.frozen ? "frozen" : "not frozen"));
  return served;
}

ServedModel::ServedModel(Options options, std::unique_ptr<engine::Model> model)
    : options_(std::move(options)), model_(std::move(model)) {}

ServedModel::~ServedModel() { Shutdown(); }

absl::Status ServedModel::Enqueue(
    std::vector<engine::Tensor> inputs, int64_t batch_size,
    std::function<void(absl::StatusOr<engine::Outputs>, const JobTimings&)>
        done) {
  auto job = std::make_unique<InferenceJob>();
  job->inputs = std::move(inputs);
  job->batch_size = batch_size;
  job->enqueue_time = std::chrono::steady_clock::now();
  job->done = std::move(done);
  return pool_->Enqueue(std::move(job));
}

void ServedModel::Shutdown() {
  if (pool_ != nullptr) pool_->Shutdown();
}

}  // namespace kiln::server

// One loaded, servable model version: its normalized config, the engine
// model, its execution instances and its statistics.
//
// Thread safety: all methods may be called concurrently. Shutdown drains the
// instances (every accepted request completes) and must not be called from an
// instance thread.
#ifndef KILN_SERVER_REPOSITORY_SERVED_MODEL_H_
#define KILN_SERVER_REPOSITORY_SERVED_MODEL_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/model.h"
#include "proto/model_config.pb.h"
#include "server/repository/model_stats.h"
#include "server/scheduler/model_scheduler.h"

namespace kiln::server {

class ServedModel {
 public:
  struct Options {
    std::string name;
    int64_t version = 0;
    inference::ModelConfig config;  // normalized
    std::string model_path;
    // From --intra-op-threads; 0 = the cores divided among the instances.
    // The engine options (config parameters, KILN_* environment) take
    // precedence.
    int intra_op_threads = 0;
    // Keep the metrics histograms (the metrics endpoint is served), with
    // these latency bucket bounds in seconds.
    bool histograms = false;
    std::vector<double> latency_buckets_seconds;
  };

  // Loads the TorchScript file and starts the instances. Errors name the
  // model and version and say why (InvalidArgument for a file that is not a
  // matching TorchScript model, NotFound for a missing file).
  static absl::StatusOr<std::shared_ptr<ServedModel>> Load(
      const Options& options);

  ~ServedModel();

  const std::string& name() const { return options_.name; }
  int64_t version() const { return options_.version; }
  const inference::ModelConfig& config() const { return options_.config; }
  ModelStats& stats() { return *stats_; }
  const ModelStats& stats() const { return *stats_; }
  const engine::LoadReport& load_report() const {
    return model_->load_report();
  }
  // The engine's counters (plans, plan cache, accuracy checks).
  engine::RunStats engine_stats() const { return model_->run_stats(); }
  // Seconds from the start of Load to READY (engine load and warmup).
  double load_seconds() const { return load_seconds_; }

  // Schedules one request (job->inputs in config input order, batch_size
  // items, 1 for models without batching). `done` runs on an instance thread
  // with the request's outputs; it is not called when Enqueue returns an
  // error (Unavailable while unloading or when the queue is full).
  absl::Status Enqueue(std::unique_ptr<InferenceJob> job);

  // Requests queued and not yet picked up by an instance.
  size_t pending() const { return scheduler_->pending(); }

  void Shutdown();

 private:
  ServedModel(Options options, std::unique_ptr<ModelStats> stats,
              std::unique_ptr<engine::Model> model);

  const Options options_;
  // Before model_: the engine reports plan builds into it until destroyed.
  const std::unique_ptr<ModelStats> stats_;
  std::unique_ptr<engine::Model> model_;
  std::unique_ptr<ModelScheduler> scheduler_;
  double load_seconds_ = 0;
};

}  // namespace kiln::server

#endif  // KILN_SERVER_REPOSITORY_SERVED_MODEL_H_

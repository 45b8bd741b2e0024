// The model lifecycle over one or more Triton-style model repositories:
// scanning, loading versions under each model's version policy, per-version
// states, explicit load/unload and polling.
//
// A model that fails to load (bad config, unreadable or mismatched model
// file) is UNAVAILABLE with the reason; the others serve. Lifecycle calls
// (LoadAll, LoadModel, UnloadModel, Poll) are serialized with each other;
// Find, Index and AllReady may be called concurrently with them and never
// wait for a load to finish.
//
// Errors from Find: NotFound for an unknown model or version, Unavailable
// for a known one that is not READY (the reason included).
#ifndef KILN_SERVER_REPOSITORY_MODEL_REPOSITORY_H_
#define KILN_SERVER_REPOSITORY_MODEL_REPOSITORY_H_

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "config/server_flags.h"
#include "server/repository/served_model.h"

namespace kiln::server {

enum class ModelState { kUnknown, kLoading, kReady, kUnloading, kUnavailable };
const char* ModelStateName(ModelState state);  // "READY", "UNAVAILABLE", ...

struct IndexEntry {
  std::string name;
  std::string version;  // empty for a model with no loaded version
  std::string state;    // empty for a model that was never loaded
  std::string reason;
};

class ModelRepository {
 public:
  struct Options {
    std::vector<std::string> repository_paths;
    config::ModelControlMode mode = config::ModelControlMode::kNone;
    int intra_op_threads = 0;
    // Each model keeps the metrics histograms (ServedModel::Options).
    bool histograms = false;
    std::vector<double> latency_buckets_seconds;
  };

  // InvalidArgument/NotFound when a repository path is not a directory.
  static absl::StatusOr<std::unique_ptr<ModelRepository>> Create(
      const Options& options);
  ~ModelRepository();

  // Startup load: every model found (modes none and poll), or `names` in
  // explicit mode ("*" = every model). Returns OK when all of them loaded,
  // else an error naming each model that did not.
  absl::Status LoadAll(const std::vector<std::string>& names);

  // Loads (or reloads) the versions of `name` its policy selects; versions
  // no longer selected are unloaded once the new ones are READY.
  absl::Status LoadModel(const std::string& name);
  // Unloads every version of `name`, waiting for their in-flight requests.
  absl::Status UnloadModel(const std::string& name);
  // Loads new and changed models, unloads removed ones.
  absl::Status Poll();

  // The READY model for `version` ("" = the highest READY version).
  absl::StatusOr<std::shared_ptr<ServedModel>> Find(
      const std::string& name, const std::string& version) const;

  // READY models; all of them when `name` is empty, else those of `name`
  // (only `version` when it is non-empty; NotFound when none is READY).
  absl::StatusOr<std::vector<std::shared_ptr<ServedModel>>> ReadyModels(
      const std::string& name, const std::string& version) const;

  // Every model in the repositories, one entry per version it has a state
  // for. With ready_only, READY versions only.
  std::vector<IndexEntry> Index(bool ready_only) const;

  // True when every model that was asked to load has each of its versions
  // READY (the strict-readiness rule).
  bool AllReady() const;

  // Unloads everything, waiting for in-flight requests.
  void Shutdown();

 private:
  struct VersionSlot {
    ModelState state = ModelState::kUnknown;
    std::string reason;
    std::shared_ptr<ServedModel> model;
  };
  struct ModelEntry {
    // Set when the model as a whole failed (config, no versions).
    ModelState state = ModelState::kUnknown;
    std::string reason;
    std::map<int64_t, VersionSlot> versions;
    std::string fingerprint;  // of the files last loaded
    bool requested = false;   // asked to load: counts for readiness
  };

  explicit ModelRepository(Options options);
  // Directory of `name`: NotFound when no repository has it,
  // InvalidArgument when more than one does.
  absl::StatusOr<std::string> ModelDirectory(const std::string& name) const;
  absl::StatusOr<std::vector<std::string>> AllModelNames() const;
  absl::Status LoadModelLocked(const std::string& name)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(lifecycle_mu_);
  void UnloadModelLocked(const std::string& name, const std::string& reason)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(lifecycle_mu_);
  void MarkModelFailed(const std::string& name, const absl::Status& status);

  const Options options_;
  std::mutex lifecycle_mu_;  // serializes loads, unloads and polls
  mutable std::mutex mu_;    // guards models_; never held while loading
  std::map<std::string, ModelEntry> models_ ABSL_GUARDED_BY(mu_);
};

}  // namespace kiln::server

#endif  // KILN_SERVER_REPOSITORY_MODEL_REPOSITORY_H_

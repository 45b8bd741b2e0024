#include "server/repository/model_repository.h"

#include <algorithm>
#include <filesystem>
#include <set>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "config/model_config_loader.h"
#include "config/repository_layout.h"
#include "config/version_policy.h"
#include "server/log.h"

namespace kiln::server {
namespace fs = std::filesystem;

const char* ModelStateName(ModelState state) {
  switch (state) {
    case ModelState::kUnknown: return "";
    case ModelState::kLoading: return "LOADING";
    case ModelState::kReady: return "READY";
    case ModelState::kUnloading: return "UNLOADING";
    case ModelState::kUnavailable: return "UNAVAILABLE";
  }
  return "";
}

namespace {

// What a poll compares to decide whether a model changed: names, sizes and
// modification times of everything under the model's directory.
std::string Fingerprint(const std::string& model_dir) {
  std::vector<std::string> parts;
  std::error_code ec;
  for (fs::recursive_directory_iterator it(model_dir, ec), end;
       !ec && it != end; it.increment(ec)) {
    if (!it->is_regular_file(ec)) continue;
    const auto time = fs::last_write_time(it->path(), ec).time_since_epoch();
    parts.push_back(absl::StrCat(it->path().string(), ":",
                                 it->file_size(ec), ":", time.count()));
  }
  std::sort(parts.begin(), parts.end());
  return absl::StrJoin(parts, "|");
}

}  // namespace

absl::StatusOr<std::unique_ptr<ModelRepository>> ModelRepository::Create(
    const Options& options) {
  if (options.repository_paths.empty()) {
    return absl::InvalidArgumentError("no model repository given");
  }
  for (const std::string& path : options.repository_paths) {
    auto listed = config::ListModelDirectories(path);
    if (!listed.ok()) return listed.status();
  }
  return std::unique_ptr<ModelRepository>(new ModelRepository(options));
}

ModelRepository::ModelRepository(Options options)
    : options_(std::move(options)) {}

ModelRepository::~ModelRepository() { Shutdown(); }

absl::StatusOr<std::string> ModelRepository::ModelDirectory(
    const std::string& name) const {
  std::vector<std::string> found;
  for (const std::string& repo : options_.repository_paths) {
    std::error_code ec;
    const fs::path dir = fs::path(repo) / name;
    if (!name.empty() && name.find('/') == std::string::npos &&
        fs::is_directory(dir, ec)) {
      found.push_back(dir.string());
    }
  }
  if (found.empty()) {
    return absl::NotFoundError(absl::StrCat(
        "model '", name, "' is not in the model repository (",
        absl::StrJoin(options_.repository_paths, ", "), ")"));
  }
  if (found.size() > 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("model '", name, "' is in more than one repository: ",
                     absl::StrJoin(found, ", ")));
  }
  return found[0];
}

absl::StatusOr<std::vector<std::string>> ModelRepository::AllModelNames()
    const {
  std::set<std::string> names;
  for (const std::string& repo : options_.repository_paths) {
    auto listed = config::ListModelDirectories(repo);
    if (!listed.ok()) return listed.status();
    names.insert(listed->begin(), listed->end());
  }
  return std::vector<std::string>(names.begin(), names.end());
}

void ModelRepository::MarkModelFailed(const std::string& name,
                                      const absl::Status& status) {
  LogError(absl::StrCat("failed to load model '", name,
                        "': ", status.message()));
  std::lock_guard<std::mutex> lock(mu_);
  ModelEntry& entry = models_[name];
  entry.state = ModelState::kUnavailable;
  entry.reason = std::string(status.message());
}

absl::Status ModelRepository::LoadAll(const std::vector<std::string>& names) {
  std::vector<std::string> to_load = names;
  const bool everything =
      options_.mode != config::ModelControlMode::kExplicit ||
      std::find(names.begin(), names.end(), "*") != names.end();
  if (everything) {
    auto all = AllModelNames();
    if (!all.ok()) return all.status();
    to_load = *all;
  }
  std::vector<std::string> failed;
  std::lock_guard<std::mutex> lifecycle(lifecycle_mu_);
  for (const std::string& name : to_load) {
    if (!LoadModelLocked(name).ok()) failed.push_back(name);
  }
  if (!failed.empty()) {
    return absl::UnavailableError(absl::StrCat(
        "failed to load model(s): ", absl::StrJoin(failed, ", ")));
  }
  return absl::OkStatus();
}

absl::Status ModelRepository::LoadModel(const std::string& name) {
  std::lock_guard<std::mutex> lifecycle(lifecycle_mu_);
  return LoadModelLocked(name);
}

absl::Status ModelRepository::LoadModelLocked(const std::string& name) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    models_[name].requested = true;
  }
  auto dir = ModelDirectory(name);
  if (!dir.ok()) {
    MarkModelFailed(name, dir.status());
    return dir.status();
  }
  const std::string fingerprint = Fingerprint(*dir);
  {
    std::lock_guard<std::mutex> lock(mu_);
    models_[name].fingerprint = fingerprint;
  }
  auto loaded = config::LoadModelConfig(*dir, name);
  if (!loaded.ok()) {
    MarkModelFailed(name, loaded.status());
    return loaded.status();
  }
  for (const std::string& warning : loaded->warnings) LogWarning(warning);
  const inference::ModelConfig& model_config = loaded->config;

  const std::vector<int64_t> available = config::ListVersionDirectories(*dir);
  const std::vector<int64_t> selected =
      config::SelectVersions(model_config.version_policy(), available);
  if (selected.empty()) {
    const absl::Status status = absl::InvalidArgumentError(absl::StrCat(
        "model '", name, "' has no version folder that its version policy "
        "selects (found: ", available.empty() ? "none" : absl::StrJoin(available, ", "),
        ")"));
    MarkModelFailed(name, status);
    return status;
  }

  {
    std::lock_guard<std::mutex> lock(mu_);
    ModelEntry& entry = models_[name];
    entry.state = ModelState::kLoading;
    entry.reason.clear();
    for (int64_t v : selected) {
      VersionSlot& slot = entry.versions[v];
      // A reload keeps serving the old model until the new one is READY.
      if (slot.model == nullptr) slot.state = ModelState::kLoading;
    }
  }

  std::vector<std::string> errors;
  std::map<int64_t, std::shared_ptr<ServedModel>> fresh;
  for (int64_t version : selected) {
    ServedModel::Options served;
    served.name = name;
    served.version = version;
    served.config = model_config;
    served.model_path = config::ModelFilePath(*dir, version, model_config);
    served.intra_op_threads = options_.intra_op_threads;
    served.histograms = options_.histograms;
    served.latency_buckets_seconds = options_.latency_buckets_seconds;
    auto model = ServedModel::Load(served);
    if (model.ok()) {
      fresh[version] = *std::move(model);
      continue;
    }
    LogError(absl::StrCat("failed to load: ", model.status().message()));
    errors.push_back(std::string(model.status().message()));
    std::lock_guard<std::mutex> lock(mu_);
    VersionSlot& slot = models_[name].versions[version];
    slot.state = ModelState::kUnavailable;
    slot.reason = std::string(model.status().message());
    slot.model = nullptr;
  }
  for (int64_t missing : config::MissingSpecificVersions(
           model_config.version_policy(), available)) {
    const std::string reason = absl::StrCat(
        "version ", missing, " of model '", name,
        "' is listed in its version policy but has no version folder");
    LogError(reason);
    errors.push_back(reason);
    std::lock_guard<std::mutex> lock(mu_);
    VersionSlot& slot = models_[name].versions[missing];
    slot.state = ModelState::kUnavailable;
    slot.reason = reason;
  }

  // Swap in the new versions and take out those no longer selected; the
  // replaced models drain outside the lock.
  std::vector<std::shared_ptr<ServedModel>> retired;
  {
    std::lock_guard<std::mutex> lock(mu_);
    ModelEntry& entry = models_[name];
    for (auto& [version, model] : fresh) {
      VersionSlot& slot = entry.versions[version];
      if (slot.model != nullptr) retired.push_back(slot.model);
      slot.state = ModelState::kReady;
      slot.reason.clear();
      slot.model = model;
    }
    for (auto it = entry.versions.begin(); it != entry.versions.end();) {
      const bool kept =
          std::find(selected.begin(), selected.end(), it->first) !=
              selected.end() ||
          it->second.state == ModelState::kUnavailable;
      if (kept) {
        ++it;
        continue;
      }
      if (it->second.model != nullptr) retired.push_back(it->second.model);
      it = entry.versions.erase(it);
    }
    entry.state = errors.empty() ? ModelState::kReady : ModelState::kUnavailable;
    entry.reason = absl::StrJoin(errors, "; ");
  }
  for (auto& model : retired) model->Shutdown();
  if (!errors.empty()) {
    return absl::InvalidArgumentError(absl::StrJoin(errors, "; "));
  }
  return absl::OkStatus();
}

absl::Status ModelRepository::UnloadModel(const std::string& name) {
  std::lock_guard<std::mutex> lifecycle(lifecycle_mu_);
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (models_.find(name) == models_.end()) {
      return absl::NotFoundError(
          absl::StrCat("failed to unload model '", name, "': not loaded"));
    }
  }
  UnloadModelLocked(name, "unloaded");
  return absl::OkStatus();
}

void ModelRepository::UnloadModelLocked(const std::string& name,
                                        const std::string& reason) {
  std::vector<std::shared_ptr<ServedModel>> retired;
  {
    std::lock_guard<std::mutex> lock(mu_);
    ModelEntry& entry = models_[name];
    entry.requested = false;
    for (auto& [version, slot] : entry.versions) {
      if (slot.model != nullptr) retired.push_back(slot.model);
      slot.state = ModelState::kUnloading;
    }
  }
  for (auto& model : retired) model->Shutdown();
  std::lock_guard<std::mutex> lock(mu_);
  ModelEntry& entry = models_[name];
  for (auto& [version, slot] : entry.versions) {
    slot.model = nullptr;
    slot.state = ModelState::kUnavailable;
    slot.reason = reason;
  }
  entry.state = ModelState::kUnavailable;
  entry.reason = reason;
  entry.fingerprint.clear();
  if (!retired.empty()) LogInfo(absl::StrCat("model '", name, "' unloaded"));
}

absl::Status ModelRepository::Poll() {
  auto names = AllModelNames();
  if (!names.ok()) return names.status();
  std::lock_guard<std::mutex> lifecycle(lifecycle_mu_);
  std::vector<std::string> known;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& [name, entry] : models_) known.push_back(name);
  }
  for (const std::string& name : known) {
    if (std::find(names->begin(), names->end(), name) == names->end()) {
      UnloadModelLocked(name, "removed from the model repository");
      std::lock_guard<std::mutex> lock(mu_);
      models_.erase(name);
    }
  }
  for (const std::string& name : *names) {
    auto dir = ModelDirectory(name);
    std::string previous;
    {
      std::lock_guard<std::mutex> lock(mu_);
      auto it = models_.find(name);
      if (it != models_.end()) previous = it->second.fingerprint;
    }
    // Unchanged files: nothing to do, also for a model that failed (it is
    // retried once its files change).
    if (dir.ok() && !previous.empty() && previous == Fingerprint(*dir)) {
      continue;
    }
    LogInfo(absl::StrCat("poll: loading model '", name, "'"));
    (void)LoadModelLocked(name);
  }
  return absl::OkStatus();
}

absl::StatusOr<std::shared_ptr<ServedModel>> ModelRepository::Find(
    const std::string& name, const std::string& version) const {
  int64_t wanted = 0;
  if (!version.empty() && (!absl::SimpleAtoi(version, &wanted) || wanted < 1)) {
    return absl::NotFoundError(absl::StrCat("Request for unknown model: '",
                                            name, "' version ", version,
                                            " is not found"));
  }
  std::lock_guard<std::mutex> lock(mu_);
  auto it = models_.find(name);
  if (it == models_.end()) {
    return absl::NotFoundError(
        absl::StrCat("Request for unknown model: '", name, "' is not found"));
  }
  const ModelEntry& entry = it->second;
  if (version.empty()) {
    for (auto v = entry.versions.rbegin(); v != entry.versions.rend(); ++v) {
      if (v->second.state == ModelState::kReady) return v->second.model;
    }
    std::string reason = entry.reason;
    for (const auto& [number, slot] : entry.versions) {
      if (reason.empty()) reason = slot.reason;
    }
    return absl::UnavailableError(
        absl::StrCat("Request for unknown model: '", name,
                     "' has no available versions",
                     reason.empty() ? "" : absl::StrCat(": ", reason)));
  }
  auto v = entry.versions.find(wanted);
  if (v == entry.versions.end()) {
    return absl::NotFoundError(absl::StrCat("Request for unknown model: '",
                                            name, "' version ", version,
                                            " is not found"));
  }
  if (v->second.state != ModelState::kReady) {
    return absl::UnavailableError(absl::StrCat(
        "Request for unknown model: '", name, "' version ", version,
        " is not at ready state",
        v->second.reason.empty() ? "" : absl::StrCat(": ", v->second.reason)));
  }
  return v->second.model;
}

absl::StatusOr<std::vector<std::shared_ptr<ServedModel>>>
ModelRepository::ReadyModels(const std::string& name,
                             const std::string& version) const {
  std::vector<std::shared_ptr<ServedModel>> ready;
  if (!name.empty()) {
    if (!version.empty()) {
      auto model = Find(name, version);
      if (!model.ok()) return model.status();
      ready.push_back(*model);
      return ready;
    }
    std::lock_guard<std::mutex> lock(mu_);
    auto it = models_.find(name);
    if (it != models_.end()) {
      for (const auto& [number, slot] : it->second.versions) {
        if (slot.state == ModelState::kReady) ready.push_back(slot.model);
      }
    }
    if (ready.empty()) {
      return absl::NotFoundError(absl::StrCat(
          "requested model '", name, "' is not available"));
    }
    return ready;
  }
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& [model_name, entry] : models_) {
    for (const auto& [number, slot] : entry.versions) {
      if (slot.state == ModelState::kReady) ready.push_back(slot.model);
    }
  }
  return ready;
}

std::vector<IndexEntry> ModelRepository::Index(bool ready_only) const {
  std::vector<IndexEntry> index;
  std::set<std::string> seen;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& [name, entry] : models_) {
      seen.insert(name);
      bool listed = false;
      for (const auto& [number, slot] : entry.versions) {
        if (ready_only && slot.state != ModelState::kReady) continue;
        index.push_back({name, std::to_string(number),
                         ModelStateName(slot.state), slot.reason});
        listed = true;
      }
      // A model that failed as a whole (or holds no version) still shows,
      // with its state and why.
      if (!listed && !ready_only) {
        index.push_back({name, "", ModelStateName(entry.state), entry.reason});
      }
    }
  }
  if (!ready_only) {
    auto names = AllModelNames();
    if (names.ok()) {
      for (const std::string& name : *names) {
        if (seen.count(name) == 0) index.push_back({name, "", "", ""});
      }
    }
    std::sort(index.begin(), index.end(),
              [](const IndexEntry& a, const IndexEntry& b) {
                return a.name != b.name ? a.name < b.name
                                        : a.version < b.version;
              });
  }
  return index;
}

bool ModelRepository::AllReady() const {
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& [name, entry] : models_) {
    if (!entry.requested) continue;
    if (entry.state != ModelState::kReady) return false;
    for (const auto& [number, slot] : entry.versions) {
      if (slot.state != ModelState::kReady) return false;
    }
  }
  return true;
}

void ModelRepository::Shutdown() {
  std::vector<std::shared_ptr<ServedModel>> all;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& [name, entry] : models_) {
      for (auto& [number, slot] : entry.versions) {
        if (slot.model != nullptr) all.push_back(slot.model);
      }
    }
  }
  for (auto& model : all) model->Shutdown();
}

}  // namespace kiln::server

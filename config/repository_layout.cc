#include "config/repository_layout.h"

#include <algorithm>
#include <filesystem>
#include <system_error>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace kiln::config {
namespace {

namespace fs = std::filesystem;

constexpr char kDefaultModelFilename[] = "model.pt";

// Lists the names of the subdirectories of `dir`. Entries that vanish or
// cannot be inspected while listing are skipped: the repository is edited
// while the server polls it, and one bad entry must not hide the others.
absl::StatusOr<std::vector<std::string>> SubdirectoryNames(
    const fs::path& dir) {
  std::error_code ec;
  fs::directory_iterator it(dir, ec);
  if (ec) {
    return absl::InternalError(
        absl::StrCat("cannot list ", dir.string(), ": ", ec.message()));
  }
  std::vector<std::string> names;
  for (; it != fs::directory_iterator(); it.increment(ec)) {
    if (ec) break;
    std::error_code entry_ec;
    if (it->is_directory(entry_ec)) {  // follows symlinks
      names.push_back(it->path().filename().string());
    }
  }
  return names;
}

}  // namespace

absl::StatusOr<std::vector<std::string>> ListModelDirectories(
    const std::string& repository_path) {
  std::error_code ec;
  const fs::file_status status = fs::status(repository_path, ec);
  if (!fs::exists(status)) {
    return absl::NotFoundError(absl::StrCat(
        "model repository '", repository_path, "' does not exist"));
  }
  if (!fs::is_directory(status)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "model repository '", repository_path, "' is not a directory"));
  }
  absl::StatusOr<std::vector<std::string>> names =
      SubdirectoryNames(repository_path);
  if (!names.ok()) return names.status();
  names->erase(std::remove_if(names->begin(), names->end(),
                              [](const std::string& name) {
                                return name.empty() || name[0] == '.';
                              }),
               names->end());
  std::sort(names->begin(), names->end());
  return names;
}

std::vector<int64_t> ListVersionDirectories(const std::string& model_dir) {
  std::vector<int64_t> versions;
  absl::StatusOr<std::vector<std::string>> names = SubdirectoryNames(model_dir);
  if (!names.ok()) return versions;
  for (const std::string& name : *names) {
    // SimpleAtoi alone would accept "+1", " 1" and "-1"; Triton's rule is
    // plain digits without a leading zero.
    if (name.empty() || name[0] == '0' ||
        !std::all_of(name.begin(), name.end(),
                     [](char c) { return absl::ascii_isdigit(c); })) {
      continue;
    }
    int64_t version = 0;
    if (absl::SimpleAtoi(name, &version)) versions.push_back(version);
  }
  std::sort(versions.begin(), versions.end());
  return versions;
}

std::string ModelFilePath(const std::string& model_dir, int64_t version,
                          const inference::ModelConfig& config) {
  const std::string filename = config.default_model_filename().empty()
                                   ? std::string(kDefaultModelFilename)
                                   : config.default_model_filename();
  return (fs::path(model_dir) / std::to_string(version) / filename).string();
}

}  // namespace kiln::config

// The on-disk layout of a Triton-style model repository:
//
//   <repository>/<model>/config.pbtxt
//   <repository>/<model>/<version>/model.pt   (or default_model_filename)
//
// These functions only look at names on disk; they do not read configs or
// models. Thread-safe (they touch the filesystem, so results reflect the
// moment of the call).
#ifndef KILN_CONFIG_REPOSITORY_LAYOUT_H_
#define KILN_CONFIG_REPOSITORY_LAYOUT_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "proto/model_config.pb.h"

namespace kiln::config {

// The model names in a repository: its subdirectories (symlinks to
// directories count), sorted. Hidden entries (".git", ".ipynb_checkpoints")
// and plain files are skipped.
// Errors: NotFound when repository_path does not exist, InvalidArgument when
// it is not a directory, Internal when it cannot be listed; each names the
// path.
absl::StatusOr<std::vector<std::string>> ListModelDirectories(
    const std::string& repository_path);

// The version numbers under a model directory, ascending. As in Triton, only
// subdirectories whose names are all digits and do not start with '0' count
// ("0", "007", "v1", "1a" are ignored), as do numbers beyond int64. A missing
// or unreadable model_dir yields no versions.
std::vector<int64_t> ListVersionDirectories(const std::string& model_dir);

// <model_dir>/<version>/<default_model_filename, or "model.pt" when empty>.
std::string ModelFilePath(const std::string& model_dir, int64_t version,
                          const inference::ModelConfig& config);

}  // namespace kiln::config

#endif  // KILN_CONFIG_REPOSITORY_LAYOUT_H_

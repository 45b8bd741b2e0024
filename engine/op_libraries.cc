#include "engine/op_libraries.h"

#include <dlfcn.h>

#include <cstdlib>
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace kiln::engine {
namespace {

constexpr char kTorchVisionDir[] = "/usr/lib/python3/dist-packages/torchvision";

std::vector<std::string> Candidates() {
  std::vector<std::string> paths;
  std::error_code ec;
  if (std::filesystem::is_directory(kTorchVisionDir, ec)) {
    for (const auto& entry : std::filesystem::directory_iterator(kTorchVisionDir, ec)) {
      const std::string name = entry.path().filename().string();
      if (name.rfind("_C.", 0) == 0 && entry.path().extension() == ".so") {
        paths.push_back(entry.path().string());
      }
    }
  }
  if (const char* extra = std::getenv("KILN_OP_LIBRARIES")) {
    for (absl::string_view path : absl::StrSplit(extra, ':', absl::SkipEmpty())) {
      paths.emplace_back(path);
    }
  }
  return paths;
}

std::vector<std::string> Load() {
  std::vector<std::string> report;
  for (const std::string& path : Candidates()) {
    // Global symbols: the library registers its operators with LibTorch's
    // dispatcher from static initializers.
    if (dlopen(path.c_str(), RTLD_NOW | RTLD_GLOBAL) != nullptr) {
      report.push_back(absl::StrCat("loaded operator library ", path));
    } else {
      const char* error = dlerror();
      report.push_back(absl::StrCat("could not load operator library ", path, ": ",
                                    error ? error : "unknown error"));
    }
  }
  return report;
}

}  // namespace

const std::vector<std::string>& LoadOperatorLibraries() {
  static const std::vector<std::string>* report = new std::vector<std::string>(Load());
  return *report;
}

}  // namespace kiln::engine

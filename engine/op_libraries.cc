#include "engine/op_libraries.h"

#include <dlfcn.h>
#include <torch/cuda.h>

#include <cstdlib>
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

#ifndef KILN_TORCHVISION_DIR
#define KILN_TORCHVISION_DIR ""
#endif

namespace kiln::engine {
namespace {

constexpr char kTorchCudaLibrary[] = "libtorch_cuda.so";
// libtorch.so joins libtorch_cpu and libtorch_cuda; operator extensions built
// against the whole LibTorch (torchvision's) name it. Loaded by name here, it
// satisfies their dependency: their own RPATH points at their build machine,
// and the executable's RUNPATH does not reach a dlopened library's needs.
constexpr char kTorchLibrary[] = "libtorch.so";

std::string TorchVisionDir() {
  if (const char* dir = std::getenv("KILN_TORCHVISION_DIR")) return dir;
  return KILN_TORCHVISION_DIR;
}

// torchvision's operator extension: _C.so in older wheels, _C_stable.so now
// (image_*.so holds image codecs, not operators).
std::vector<std::string> TorchVisionLibraries() {
  std::vector<std::string> paths;
  const std::string dir = TorchVisionDir();
  std::error_code ec;
  if (dir.empty() || !std::filesystem::is_directory(dir, ec)) return paths;
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
    const std::string name = entry.path().filename().string();
    if (name.rfind("_C", 0) == 0 && entry.path().extension() == ".so") {
      paths.push_back(entry.path().string());
    }
  }
  return paths;
}

// Global symbols: the libraries register their operators and kernels with
// LibTorch's dispatcher from static initializers.
bool Open(const std::string& path, std::string* error) {
  if (dlopen(path.c_str(), RTLD_NOW | RTLD_GLOBAL) != nullptr) return true;
  const char* reason = dlerror();
  *error = reason ? reason : "unknown error";
  return false;
}

std::vector<std::string> Load() {
  std::vector<std::string> report;
  std::string error;
  if (Open(kTorchCudaLibrary, &error) && Open(kTorchLibrary, &error)) {
    // Without a GPU or its driver this is 0: the backend is there, unused.
    const int devices = torch::cuda::device_count();
    report.push_back(absl::StrCat("loaded LibTorch's CUDA backend (", kTorchCudaLibrary, ", ",
                                  kTorchLibrary, "): ", devices, " CUDA device(s)",
                                  devices == 0 ? ", models run on the CPU" : ""));
  } else {
    report.push_back(absl::StrCat("LibTorch's CUDA backend not loaded, CPU only: ", error));
  }
  std::vector<std::string> paths = TorchVisionLibraries();
  if (const char* extra = std::getenv("KILN_OP_LIBRARIES")) {
    for (absl::string_view path : absl::StrSplit(extra, ':', absl::SkipEmpty())) {
      paths.emplace_back(path);
    }
  }
  for (const std::string& path : paths) {
    if (Open(path, &error)) {
      report.push_back(absl::StrCat("loaded operator library ", path));
    } else {
      report.push_back(absl::StrCat("could not load operator library ", path, ": ", error));
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

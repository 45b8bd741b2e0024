// The engine's loader (the operation parser): torch::jit::load, eval,
// freeze with a fallback, and the graph-pass pipeline. Internal to the
// engine (LibTorch types); model.cc and kiln-compile both load through it.
#ifndef KILN_ENGINE_LOADER_H_
#define KILN_ENGINE_LOADER_H_

#include <torch/csrc/jit/api/module.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/model.h"
#include "engine/passes/pipeline.h"

namespace kiln::engine {

struct LoadedModule {
  torch::jit::Module module;         // frozen when report.frozen
  std::vector<Argument> arguments;   // forward()'s, self excluded
  LoadReport report;
  // forward()'s graph after the pass pipeline (level >= 2 only; for an
  // unfrozen module a copy, null when a pass failed on it): what plans are
  // built from. Takes the module object as its first input.
  std::shared_ptr<torch::jit::Graph> optimized_graph;
  std::vector<passes::PassRecord> passes;
};

// Errors: NotFound (no file), InvalidArgument (not TorchScript, or no
// forward()). Freezing and pass failures are not errors: the module is
// served as it loaded and the reason is in the report / log.
absl::StatusOr<LoadedModule> LoadTorchScript(const std::string& path, int optimization_level);

// LibTorch's message without the C++ backtrace.
std::string TorchMessage(const c10::Error& e);

}  // namespace kiln::engine

#endif  // KILN_ENGINE_LOADER_H_

#include "engine/loader.h"

#include <torch/csrc/jit/passes/freeze_module.h>
#include <torch/csrc/jit/serialization/import.h>

#include <chrono>
#include <filesystem>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "engine/op_libraries.h"

namespace kiln::engine {

std::string TorchMessage(const c10::Error& e) {
  return std::string(absl::StripAsciiWhitespace(e.what_without_backtrace()));
}

absl::StatusOr<LoadedModule> LoadTorchScript(const std::string& path, int optimization_level) {
  const auto start = std::chrono::steady_clock::now();
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) {
    return absl::NotFoundError(absl::StrCat("model file ", path, " not found"));
  }
  LoadedModule loaded;
  LoadOperatorLibraries();  // before the first load: models may call their operators
  try {
    loaded.module = torch::jit::load(path, c10::kCPU);
  } catch (const c10::Error& e) {
    return absl::InvalidArgumentError(absl::StrCat(
        path, " is not a TorchScript model that LibTorch can load: ", TorchMessage(e)));
  } catch (const std::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat(
        path, " is not a TorchScript model that LibTorch can load: ", e.what()));
  }
  try {
    auto method = loaded.module.find_method("forward");
    if (!method.has_value()) {
      return absl::InvalidArgumentError(absl::StrCat(path, " has no forward() method"));
    }
    const auto& schema = method->function().getSchema();
    for (size_t i = 1; i < schema.arguments().size(); ++i) {  // 0 is self
      const auto& arg = schema.arguments()[i];
      loaded.arguments.push_back({arg.name(), arg.type()->annotation_str()});
    }
  } catch (const c10::Error& e) {
    return absl::InvalidArgumentError(TorchMessage(e));
  }

  loaded.module.eval();
  if (optimization_level >= 1) {
    try {
      // Numerics are left to Kiln's pass pipeline: LibTorch 1.13's own
      // post-freeze folding folds batch norm into convolutions without
      // checking its training flag (a traced F.batch_norm(training=True)
      // would silently change results); fold_frozen_conv checks it.
      loaded.module = torch::jit::freeze(loaded.module, c10::nullopt,
                                         /*optimize_numerics=*/false);
      loaded.report.frozen = true;
    } catch (const c10::Error& e) {
      // Modules that set attributes at run time cannot be frozen; TorchScript
      // still runs them, so Kiln serves them unfrozen.
      loaded.report.freeze_error = TorchMessage(e);
    } catch (const std::exception& e) {
      loaded.report.freeze_error = e.what();
    }
    if (loaded.report.frozen) {
      // In place: forward() itself runs the optimized graph from here on (the
      // reference path of levels 1-3), and plans are built from a copy.
      std::shared_ptr<torch::jit::Graph> graph = loaded.module.get_method("forward").graph();
      absl::Status status = passes::RunPipeline(graph, passes::PipelineOptions{}, &loaded.passes);
      // A failing pass leaves the graph as it was.
      if (!status.ok()) loaded.report.pass_error = std::string(status.message());
      if (optimization_level >= 2) loaded.optimized_graph = graph->copy();
    } else if (optimization_level >= 2) {
      // Unfrozen: forward() stays exactly as written (the reference path);
      // plans are built from an optimized copy whose weights are attribute
      // reads, captured where nothing can re-point them
      // (segment/constant_attributes.h).
      std::shared_ptr<torch::jit::Graph> graph =
          loaded.module.get_method("forward").graph()->copy();
      absl::Status status = passes::RunPipeline(graph, passes::PipelineOptions{}, &loaded.passes);
      if (status.ok()) {
        loaded.optimized_graph = graph;
      } else {
        loaded.report.pass_error = std::string(status.message());
      }
    }
  }
  loaded.report.load_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return loaded;
}

}  // namespace kiln::engine

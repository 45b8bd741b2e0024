// The engine's interface to the server: load a TorchScript model with
// options, run it on tensors, report what happened.
//
// This header has no LibTorch, gRPC or protobuf dependency. Errors:
//   InvalidArgument  - the model file is not TorchScript, or the input names /
//                      tensors do not match forward()'s signature;
//   NotFound         - the model file does not exist;
//   Internal         - TorchScript raised while running the model (the message
//                      is TorchScript's own).
// Thread safety: Run may be called from many threads at once.
#ifndef KILN_ENGINE_MODEL_H_
#define KILN_ENGINE_MODEL_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/tensor.h"

namespace kiln::engine {

struct ModelOptions {
  // 0: run the module as loaded. 1 and above: freeze it (falls back to the
  // unfrozen module, with the reason in load_report(), when freezing fails).
  // Levels 2 and 3 add Kiln's compiled segments and automatic precision;
  // until those exist they run as level 1.
  int optimization_level = 1;
  // Intra-op threads used by each Run; 0 means one per core.
  int intra_op_threads = 0;
  // The names the server will pass inputs under, in the order Run receives
  // them. Each is a forward() argument name, or "<anything>__<index>" with the
  // argument's position, or - when forward() takes one Dict[str, Tensor] - a
  // key of that dict. Empty: inputs are passed positionally.
  std::vector<std::string> input_names;
  // Label for log lines ("resnet18 v1").
  std::string label;
};

// One forward() argument (self excluded).
struct Argument {
  std::string name;
  std::string type;  // TorchScript's spelling: "Tensor", "Dict(str, Tensor)"
};

struct Outputs {
  // The returned tensors: one for a Tensor, the elements of a tuple or list
  // in order, or the values of a dict (in the dict's order).
  std::vector<Tensor> tensors;
  // For a dict return: the key of each tensor; empty otherwise.
  std::vector<std::string> keys;
};

// Counts since load; what the server's statistics and metrics build on.
struct RunStats {
  uint64_t runs = 0;      // Run calls that returned outputs
  uint64_t failures = 0;  // Run calls that returned an error
  uint64_t run_ns = 0;    // time spent in successful runs
};

struct LoadReport {
  bool frozen = false;
  std::string freeze_error;  // why freezing failed, when it did
  double load_seconds = 0;
};

class Model {
 public:
  virtual ~Model() = default;

  static absl::StatusOr<std::unique_ptr<Model>> Load(
      const std::string& path, const ModelOptions& options);

  virtual const std::vector<Argument>& arguments() const = 0;
  virtual const LoadReport& load_report() const = 0;
  virtual RunStats run_stats() const = 0;

  // Runs forward() on `inputs`, given in the order of options.input_names (or
  // positionally). Tensors must be CPU-resident row-major bytes; the engine
  // may read them in place. Returned tensors own their bytes.
  virtual absl::StatusOr<Outputs> Run(const std::vector<Tensor>& inputs) = 0;
};

}  // namespace kiln::engine

#endif  // KILN_ENGINE_MODEL_H_

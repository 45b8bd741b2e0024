// Test support: small TorchScript modules defined from source in C++,
// frozen and optimized as the engine would load them.
#ifndef KILN_ENGINE_SEGMENT_TEST_MODULES_H_
#define KILN_ENGINE_SEGMENT_TEST_MODULES_H_

#include <torch/csrc/jit/api/module.h>

#include <map>
#include <string>
#include <vector>

namespace kiln::engine::segment {

struct FrozenModel {
  torch::jit::Module module;
  std::shared_ptr<torch::jit::Graph> graph;  // forward() after the pass pipeline
  std::vector<c10::IValue> Stack(const std::vector<at::Tensor>& inputs) const;
};

// `source` is a TorchScript forward() (and helpers); `parameters` become
// module attributes (frozen into constants).
FrozenModel MakeFrozenModel(const std::string& source,
                            const std::map<std::string, at::Tensor>& parameters);

}  // namespace kiln::engine::segment

#endif  // KILN_ENGINE_SEGMENT_TEST_MODULES_H_

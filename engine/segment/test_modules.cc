#include "engine/segment/test_modules.h"

#include <torch/csrc/jit/passes/freeze_module.h>

#include "engine/passes/pipeline.h"

namespace kiln::engine::segment {

std::vector<c10::IValue> FrozenModel::Stack(const std::vector<at::Tensor>& inputs) const {
  std::vector<c10::IValue> stack = {module._ivalue()};
  for (const at::Tensor& t : inputs) stack.push_back(t);
  return stack;
}

FrozenModel MakeFrozenModel(const std::string& source,
                            const std::map<std::string, at::Tensor>& parameters) {
  torch::jit::Module m("m");
  for (const auto& [name, value] : parameters) m.register_attribute(name, c10::TensorType::get(), value);
  m.define(source);
  m.eval();
  FrozenModel model;
  model.module = torch::jit::freeze(m, c10::nullopt, /*optimize_numerics=*/false);
  model.graph = model.module.get_method("forward").graph()->copy();
  std::vector<passes::PassRecord> records;
  (void)passes::RunPipeline(model.graph, passes::PipelineOptions{}, &records);
  return model;
}

}  // namespace kiln::engine::segment

#include "engine/segment/shape_profile.h"

#include <torch/csrc/jit/runtime/interpreter.h>

#include "absl/strings/str_cat.h"

namespace kiln::engine::segment {

using torch::jit::Value;

absl::StatusOr<std::vector<c10::IValue>> ProfileShapes(
    const std::shared_ptr<torch::jit::Graph>& graph, std::vector<c10::IValue> stack,
    ShapeProfile* profile) {
  const size_t original_outputs = graph->outputs().size();
  std::vector<Value*> recorded;
  for (Value* input : graph->inputs()) {
    if (input->type()->kind() == c10::TypeKind::TensorType) recorded.push_back(input);
  }
  const size_t recorded_inputs = recorded.size();
  for (torch::jit::Node* node : graph->nodes()) {
    for (Value* output : node->outputs()) {
      // Optional tensors too: attribute reads such as a norm's running stats.
      const c10::TypePtr& type = output->type();
      const bool optional_tensor =
          type->kind() == c10::TypeKind::OptionalType &&
          type->expectRef<c10::OptionalType>().getElementType()->kind() ==
              c10::TypeKind::TensorType;
      if (type->kind() == c10::TypeKind::TensorType || optional_tensor) {
        recorded.push_back(output);
      }
    }
  }
  // Record graph inputs straight from the stack; the rest as extra outputs.
  size_t tensor_input = 0;
  for (size_t i = 0; i < graph->inputs().size(); ++i) {
    if (graph->inputs()[i]->type()->kind() != c10::TypeKind::TensorType) continue;
    const Value* v = recorded[tensor_input++];
    if (i < stack.size() && stack[i].isTensor()) {
      const at::Tensor& t = stack[i].toTensor();
      (*profile)[v] = TensorMeta{t.sizes().vec(), t.scalar_type(), t};
    }
  }
  for (size_t i = recorded_inputs; i < recorded.size(); ++i) graph->registerOutput(recorded[i]);
  std::vector<c10::IValue> outputs;
  absl::Status status;
  try {
    torch::jit::Code code(graph, "kiln_profile");
    torch::jit::InterpreterState(code).run(stack);
    for (size_t i = 0; i < original_outputs; ++i) outputs.push_back(stack[i]);
    for (size_t i = recorded_inputs; i < recorded.size(); ++i) {
      const c10::IValue& value = stack[original_outputs + i - recorded_inputs];
      if (!value.isTensor()) continue;
      const at::Tensor& t = value.toTensor();
      if (!t.defined()) continue;
      (*profile)[recorded[i]] = TensorMeta{t.sizes().vec(), t.scalar_type(), t};
    }
  } catch (const c10::Error& e) {
    status = absl::InternalError(e.what_without_backtrace());
  } catch (const std::exception& e) {
    status = absl::InternalError(e.what());
  }
  while (graph->outputs().size() > original_outputs) {
    graph->eraseOutput(graph->outputs().size() - 1);
  }
  if (!status.ok()) return status;
  return outputs;
}

}  // namespace kiln::engine::segment

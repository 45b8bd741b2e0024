#include "engine/segment/segment_call.h"

#include <ATen/ops/empty.h>
#include <c10/util/Exception.h>
#include <torch/library.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace kiln::engine::segment {
namespace {

std::vector<at::Tensor> RunSegmentOperator(int64_t handle, std::vector<at::Tensor> inputs) {
  return reinterpret_cast<const SegmentRunner*>(handle)->Run(inputs);
}

}  // namespace

// Registered here, in the file every plan build links, so the static
// registration is never dropped by the linker.
TORCH_LIBRARY(kiln, m) {
  m.def("segment(int handle, Tensor[] inputs) -> Tensor[]", &RunSegmentOperator);
}

std::vector<at::Tensor> SegmentRunner::Run(const std::vector<at::Tensor>& inputs) const {
  const auto& expected = segment_->input_dims();
  TORCH_CHECK(inputs.size() == expected.size(), "Kiln segment takes ", expected.size(),
              " inputs, got ", inputs.size());
  std::vector<at::Tensor> contiguous;
  std::vector<const float*> in;
  for (size_t i = 0; i < inputs.size(); ++i) {
    TORCH_CHECK(inputs[i].sizes() == c10::IntArrayRef(expected[i]) &&
                    inputs[i].scalar_type() == at::kFloat,
                "Kiln segment input ", i, " was compiled for float32 [",
                absl::StrJoin(expected[i], ","), "], got ", inputs[i].scalar_type(), " ",
                inputs[i].sizes());
    contiguous.push_back(inputs[i].contiguous());
    in.push_back(contiguous.back().data_ptr<float>());
  }
  std::vector<at::Tensor> outputs;
  std::vector<float*> out;
  for (const plan::Dims& dims : segment_->output_dims()) {
    outputs.push_back(at::empty(dims, at::TensorOptions().dtype(at::kFloat)));
    out.push_back(outputs.back().data_ptr<float>());
  }
  absl::Status status = segment_->Run(in, out);
  TORCH_CHECK(status.ok(), "Kiln segment: ", std::string(status.message()));
  return outputs;
}

std::vector<torch::jit::Value*> ReplaceWithSegmentCall(torch::jit::Graph& graph,
                                                       const SegmentSpec& spec,
                                                       const SegmentRunner* runner) {
  torch::jit::WithInsertPoint guard(spec.nodes.front());
  torch::jit::Value* list =
      graph.insertNode(graph.createList(c10::TensorType::get(), spec.inputs))->output();
  torch::jit::Value* handle =
      graph.insertConstant(static_cast<int64_t>(reinterpret_cast<intptr_t>(runner)));
  torch::jit::Value* result =
      graph.insert(c10::Symbol::fromQualString("kiln::segment"), {handle, list});
  torch::jit::Node* unpack =
      graph.insertNode(graph.createListUnpack(result, spec.outputs.size()));
  for (size_t i = 0; i < spec.outputs.size(); ++i) {
    unpack->output(i)->setType(spec.outputs[i]->type());
    spec.outputs[i]->replaceAllUsesWith(unpack->output(i));
  }
  for (auto it = spec.nodes.rbegin(); it != spec.nodes.rend(); ++it) (*it)->destroy();
  return std::vector<torch::jit::Value*>(unpack->outputs().begin(), unpack->outputs().end());
}

}  // namespace kiln::engine::segment

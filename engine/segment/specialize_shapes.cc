#include "engine/segment/specialize_shapes.h"

#include <torch/csrc/jit/passes/constant_propagation.h>
#include <torch/csrc/jit/passes/dead_code_elimination.h>
#include <torch/csrc/jit/passes/loop_unrolling.h>

#include <set>
#include <unordered_set>
#include <string>

namespace kiln::engine::segment {

using torch::jit::Node;

namespace {

bool IsValueDependent(const std::string& kind) {
  static const std::set<std::string> kValueDependent = {
      "aten::nonzero", "aten::masked_select", "aten::unique", "aten::_unique",
      "aten::_unique2", "aten::unique_consecutive", "aten::unique_dim", "aten::argwhere",
      "aten::nonzero_numpy", "torchvision::nms", "torchvision::roi_align", "aten::where",
      "aten::index", "aten::repeat_interleave", "aten::item", "aten::_local_scalar_dense",
      "aten::tolist", "prim::If", "prim::Loop", "prim::CallMethod",
      "prim::CallFunction"};
  return kValueDependent.count(kind) > 0;
}

}  // namespace

bool HasValueDependentShapes(torch::jit::Block* block) {
  for (Node* node : block->nodes()) {
    if (IsValueDependent(node->kind().toQualString())) return true;
    for (torch::jit::Block* sub : node->blocks()) {
      if (HasValueDependentShapes(sub)) return true;
    }
  }
  return false;
}

std::unordered_set<const torch::jit::Value*> ValueDependentValues(torch::jit::Graph& graph) {
  std::unordered_set<const torch::jit::Value*> tainted;
  for (Node* node : graph.nodes()) {
    bool taint = IsValueDependent(node->kind().toQualString());
    for (torch::jit::Block* sub : node->blocks()) taint |= HasValueDependentShapes(sub);
    for (const torch::jit::Value* in : node->inputs()) taint |= tainted.count(in) > 0;
    if (taint) {
      for (const torch::jit::Value* out : node->outputs()) tainted.insert(out);
    }
  }
  return tainted;
}

int SpecializeShapes(const std::shared_ptr<torch::jit::Graph>& graph,
                     const ShapeProfile& profile) {
  // A value is tainted when its shape may depend on input values: produced
  // by a value-dependent op (or control flow, whose branches may differ), or
  // computed from a tainted value. Sizes of untainted tensors are functions
  // of the input shapes alone.
  std::unordered_set<const torch::jit::Value*> tainted;
  int replaced = 0;
  std::vector<Node*> nodes(graph->nodes().begin(), graph->nodes().end());
  for (Node* node : nodes) {
    const std::string kind = node->kind().toQualString();
    bool taint = IsValueDependent(kind);
    for (torch::jit::Block* sub : node->blocks()) taint |= HasValueDependentShapes(sub);
    for (const torch::jit::Value* in : node->inputs()) taint |= tainted.count(in) > 0;
    if (taint) {
      for (const torch::jit::Value* out : node->outputs()) tainted.insert(out);
      continue;
    }
    if (kind != "aten::size" && kind != "aten::dim") continue;
    auto it = profile.find(node->input(0));
    if (it == profile.end()) continue;
    const std::vector<int64_t>& dims = it->second.dims;
    c10::IValue value;
    if (kind == "aten::dim") {
      value = static_cast<int64_t>(dims.size());
    } else if (node->inputs().size() == 1) {
      value = c10::IValue(dims);
    } else {
      auto dim = torch::jit::toIValue(node->input(1));
      if (!dim || !dim->isInt()) continue;
      int64_t d = dim->toInt();
      if (d < 0) d += static_cast<int64_t>(dims.size());
      if (d < 0 || d >= static_cast<int64_t>(dims.size())) continue;
      value = dims[d];
    }
    torch::jit::WithInsertPoint guard(node);
    torch::jit::Value* constant = graph->insertConstant(value);
    node->output()->replaceAllUsesWith(constant);
    node->destroy();
    ++replaced;
  }
  std::shared_ptr<torch::jit::Graph> mutable_graph = graph;
  if (replaced > 0) torch::jit::ConstantPropagation(mutable_graph);
  // Shape arithmetic in TorchScript (interpolate's output size, ...) runs
  // in short loops over the spatial dims; with the sizes constant their
  // trip counts are too. Peeling every iteration lets constant propagation
  // fold them, so they no longer split segments.
  std::vector<Node*> loops;
  for (Node* node : graph->nodes()) {
    if (node->kind() != c10::prim::Loop) continue;
    auto trips = torch::jit::toIValue(node->input(0));
    if (trips && trips->isInt() && trips->toInt() > 0 && trips->toInt() <= 8) {
      loops.push_back(node);
    }
  }
  for (Node* loop : loops) {
    torch::jit::PeelLoop(loop, static_cast<size_t>(torch::jit::toIValue(loop->input(0))->toInt()));
  }
  if (!loops.empty()) torch::jit::ConstantPropagation(mutable_graph);
  if (replaced > 0 || !loops.empty()) torch::jit::EliminateDeadCode(mutable_graph);
  replaced += static_cast<int>(loops.size());
  return replaced;
}

}  // namespace kiln::engine::segment

#include "engine/segment/constant_attributes.h"

#include <string>
#include <unordered_map>
#include <vector>

namespace kiln::engine::segment {
namespace {

using torch::jit::Block;
using torch::jit::Node;
using torch::jit::Value;

// Names assigned by prim::SetAttr and receivers of opaque calls, anywhere in
// the graph (sub-blocks included).
void Scan(const Block* block, std::unordered_set<std::string>* assigned,
          std::vector<const Value*>* receivers) {
  for (const Node* node : block->nodes()) {
    if (node->kind() == c10::prim::SetAttr) assigned->insert(node->s(c10::attr::name));
    if (node->kind() == c10::prim::CallMethod) receivers->push_back(node->input(0));
    for (const Block* sub : node->blocks()) Scan(sub, assigned, receivers);
  }
}

// Tensors (a conv's Optional[Tensor] bias included) and modules.
bool Qualifies(const c10::TypePtr& type) {
  if (type->kind() == c10::TypeKind::OptionalType) {
    return type->containedType(0)->kind() == c10::TypeKind::TensorType;
  }
  return type->kind() == c10::TypeKind::TensorType || type->kind() == c10::TypeKind::ClassType;
}

}  // namespace

std::unordered_set<const Value*> ConstantAttributeReads(const torch::jit::Graph& graph) {
  std::unordered_set<const Value*> constant;
  if (graph.inputs().empty()) return constant;
  std::unordered_set<std::string> assigned;
  std::vector<const Value*> receivers;
  Scan(graph.block(), &assigned, &receivers);
  // Each top-level read's path from self ("block.conv.weight"); the same
  // attribute may be read by several nodes, so receivers are compared by path.
  const Value* self = graph.inputs()[0];
  std::unordered_map<const Value*, std::string> path = {{self, ""}};
  for (const Node* node : graph.nodes()) {
    if (node->kind() != c10::prim::GetAttr) continue;
    auto parent = path.find(node->input(0));
    if (parent == path.end()) continue;
    path[node->output()] = parent->second + "." + node->s(c10::attr::name);
  }
  std::vector<std::string> receiver_paths;
  for (const Value* r : receivers) {
    auto it = path.find(r);
    // A receiver reached some other way (a list element, a returned module)
    // could be anything: nothing is pinned then.
    if (it == path.end()) return constant;
    receiver_paths.push_back(it->second + ".");
  }
  // In topological order a chain's parent is decided before the read itself.
  for (const Node* node : graph.nodes()) {
    if (node->kind() != c10::prim::GetAttr) continue;
    const Value* parent = node->input(0);
    if (parent != self && constant.count(parent) == 0) continue;
    if (!Qualifies(node->output()->type()) || assigned.count(node->s(c10::attr::name))) continue;
    const std::string own = path[node->output()] + ".";
    bool under_receiver = false;
    for (const std::string& r : receiver_paths) under_receiver |= own.compare(0, r.size(), r) == 0;
    if (!under_receiver) constant.insert(node->output());
  }
  return constant;
}

}  // namespace kiln::engine::segment

#include "engine/segment/partition.h"

#include <unordered_set>

#include "engine/segment/constant_attributes.h"
#include "engine/segment/importer.h"
#include "engine/segment/specialize_shapes.h"

namespace kiln::engine::segment {

using torch::jit::Node;

namespace {

bool IsCatList(Node* node) {
  return node->kind() == c10::prim::ListConstruct && node->output()->uses().size() == 1 &&
         node->output()->uses()[0].user->kind() == c10::aten::cat &&
         node->output()->uses()[0].user->owningBlock() == node->owningBlock();
}

// Moves constants and constant attribute reads to the top (they carry no
// work and can never sit inside a run) and cat lists next to their cat;
// returns the attribute reads that may be captured as constants.
std::unordered_set<const torch::jit::Value*> Prepare(torch::jit::Graph& graph) {
  std::unordered_set<const torch::jit::Value*> constant_attributes =
      ConstantAttributeReads(graph);
  std::vector<Node*> nodes(graph.nodes().begin(), graph.nodes().end());
  Node* first = graph.nodes().front();
  for (Node* node : nodes) {
    const bool hoist = node->kind() == c10::prim::Constant ||
                       (node->kind() == c10::prim::GetAttr &&
                        constant_attributes.count(node->output()) > 0);
    if (hoist && node != first) node->moveBefore(first);
  }
  for (Node* node : nodes) {
    if (IsCatList(node)) node->moveBefore(node->output()->uses()[0].user);
  }
  return constant_attributes;
}

bool HoldsTensors(const c10::TypePtr& type) {
  if (type->kind() == c10::TypeKind::TensorType) return true;
  for (const c10::TypePtr& contained : type->containedTypes()) {
    if (HoldsTensors(contained)) return true;
  }
  return false;
}

// Whether `node` (sub-blocks included) touches no tensor at all: shape and
// list arithmetic that a segment can never depend on, so it may move above a
// run instead of splitting it.
bool TensorFree(Node* node) {
  for (const torch::jit::Value* v : node->inputs()) {
    if (HoldsTensors(v->type())) return false;
  }
  for (const torch::jit::Value* v : node->outputs()) {
    if (HoldsTensors(v->type())) return false;
  }
  for (torch::jit::Block* block : node->blocks()) {
    for (Node* inner : block->nodes()) {
      if (!TensorFree(inner)) return false;
    }
  }
  return true;
}

}  // namespace

Partition PartitionGraph(torch::jit::Graph& graph, const ShapeProfile& profile,
                         bool require_heavy) {
  const std::unordered_set<const torch::jit::Value*> constant_attributes = Prepare(graph);
  Partition partition;
  auto importer = std::make_unique<SegmentImporter>(profile, &constant_attributes);
  auto close = [&]() {
    if (importer->empty()) return;
    if (importer->worthwhile() || !require_heavy) {
      SegmentSpec spec;
      spec.nodes = importer->nodes();
      spec.graph = importer->Finish(&spec.inputs, &spec.outputs);
      partition.segments.push_back(std::move(spec));
    } else {
      for (Node* node : importer->nodes()) {
        if (node->kind() == c10::prim::ListConstruct) continue;
        partition.left.push_back(
            {node->kind().toQualString(), "lowerable, but its run has no compute-heavy node"});
      }
    }
    importer = std::make_unique<SegmentImporter>(profile, &constant_attributes);
  };
  const std::unordered_set<const torch::jit::Value*> value_dependent = ValueDependentValues(graph);
  std::vector<Node*> nodes(graph.nodes().begin(), graph.nodes().end());
  for (Node* node : nodes) {
    if (importer->Contains(node)) continue;
    bool reads_value_dependent = false;
    for (const torch::jit::Value* in : node->inputs()) {
      reads_value_dependent |= HoldsTensors(in->type()) && value_dependent.count(in) > 0;
    }
    if (reads_value_dependent && node->kind() != c10::prim::Constant) {
      if (!TensorFree(node)) {
        close();
        partition.left.push_back({node->kind().toQualString(),
                                  "its input's shape depends on input values"});
        continue;
      }
    }  // absorbed by an earlier node (a split's unpack)
    if (node->kind() == c10::prim::Constant || IsCatList(node) ||
        (node->kind() == c10::prim::GetAttr && constant_attributes.count(node->output()) > 0)) {
      continue;
    }
    absl::Status status = importer->Add(node);
    if (!status.ok() && !importer->empty() && TensorFree(node)) {
      node->moveBefore(importer->nodes().front());
      continue;
    }
    if (!status.ok()) {
      close();
      partition.left.push_back({node->kind().toQualString(), std::string(status.message())});
    }
  }
  close();
  return partition;
}

}  // namespace kiln::engine::segment

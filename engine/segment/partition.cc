#include "engine/segment/partition.h"

#include "engine/segment/importer.h"

namespace kiln::engine::segment {

using torch::jit::Node;

namespace {

bool IsCatList(Node* node) {
  return node->kind() == c10::prim::ListConstruct && node->output()->uses().size() == 1 &&
         node->output()->uses()[0].user->kind() == c10::aten::cat &&
         node->output()->uses()[0].user->owningBlock() == node->owningBlock();
}

void Prepare(torch::jit::Graph& graph) {
  std::vector<Node*> nodes(graph.nodes().begin(), graph.nodes().end());
  Node* first = graph.nodes().front();
  for (Node* node : nodes) {
    // Constants carry no work; at the top they can never sit inside a run.
    if (node->kind() == c10::prim::Constant && node != first) node->moveBefore(first);
  }
  for (Node* node : nodes) {
    if (IsCatList(node)) node->moveBefore(node->output()->uses()[0].user);
  }
}

}  // namespace

Partition PartitionGraph(torch::jit::Graph& graph, const ShapeProfile& profile,
                         bool require_heavy) {
  Prepare(graph);
  Partition partition;
  auto importer = std::make_unique<SegmentImporter>(profile);
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
    importer = std::make_unique<SegmentImporter>(profile);
  };
  std::vector<Node*> nodes(graph.nodes().begin(), graph.nodes().end());
  for (Node* node : nodes) {
    if (node->kind() == c10::prim::Constant || IsCatList(node)) continue;
    absl::Status status = importer->Add(node);
    if (!status.ok()) {
      close();
      partition.left.push_back({node->kind().toQualString(), std::string(status.message())});
    }
  }
  close();
  return partition;
}

}  // namespace kiln::engine::segment

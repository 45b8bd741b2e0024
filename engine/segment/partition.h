// Segmentation: maximal runs of top-level nodes that Kiln can lower become
// segments; every other node stays with the TorchScript interpreter, with
// the reason recorded for kiln-compile.
#ifndef KILN_ENGINE_SEGMENT_PARTITION_H_
#define KILN_ENGINE_SEGMENT_PARTITION_H_

#include <torch/csrc/jit/ir/ir.h>

#include <string>
#include <vector>

#include "engine/plan/ir.h"
#include "engine/segment/shape_profile.h"

namespace kiln::engine::segment {

struct SegmentSpec {
  std::vector<torch::jit::Node*> nodes;  // in graph order
  std::vector<torch::jit::Value*> inputs;
  std::vector<torch::jit::Value*> outputs;
  plan::Graph graph;  // before fusion
};

struct LeftNode {
  std::string kind;    // "aten::index"
  std::string reason;  // why it has no lowering
};

struct Partition {
  std::vector<SegmentSpec> segments;
  std::vector<LeftNode> left;
};

// Prepares `graph` for segmentation (hoists constants, places each list a
// cat reads right before the cat) and partitions its top-level nodes.
// Segments hold at least one compute-heavy node; shorter runs stay in
// TorchScript (a segment's edges cost reorders).
// `require_heavy` false keeps every lowerable run (tests of single ops).
Partition PartitionGraph(torch::jit::Graph& graph, const ShapeProfile& profile,
                         bool require_heavy = true);

}  // namespace kiln::engine::segment

#endif  // KILN_ENGINE_SEGMENT_PARTITION_H_

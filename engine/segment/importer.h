// Translates a run of TorchScript nodes into one segment of Kiln's IR
// (engine/plan/ir.h), node by node. A node that cannot be lowered is refused
// with the reason (which kiln-compile reports) and leaves the segment as it
// was, so the caller can close the segment there and keep the node in
// TorchScript.
#ifndef KILN_ENGINE_SEGMENT_IMPORTER_H_
#define KILN_ENGINE_SEGMENT_IMPORTER_H_

#include <torch/csrc/jit/ir/ir.h>

#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "absl/status/status.h"
#include "engine/plan/ir.h"
#include "engine/segment/shape_profile.h"

namespace kiln::engine::segment {

class SegmentImporter {
 public:
  // `constant_attributes`: the attribute reads that hold the value recorded
  // in the profile for good (constant_attributes.h); not owned.
  SegmentImporter(const ShapeProfile& profile,
                  const std::unordered_set<const torch::jit::Value*>* constant_attributes)
      : profile_(profile), constant_attributes_(constant_attributes) {}

  // Adds `node` to the segment. Unimplemented (with the reason) when it has
  // no lowering; the segment is then unchanged.
  absl::Status Add(torch::jit::Node* node);

  bool empty() const { return nodes_.empty(); }
  bool Contains(const torch::jit::Node* node) const { return node_set_.count(node) > 0; }
  // Whether the segment holds work worth leaving TorchScript for (a
  // convolution, matmul, pooling...), not just reshapes and activations.
  bool worthwhile() const { return heavy_nodes_ > 0; }
  const std::vector<torch::jit::Node*>& nodes() const { return nodes_; }

  // Closes the segment: values read from before it become its inputs, values
  // read after it (or returned by the graph) its outputs.
  plan::Graph Finish(std::vector<torch::jit::Value*>* inputs,
                     std::vector<torch::jit::Value*>* outputs);

  // Per-op translation, used by import_ops.cc.
  int Input(torch::jit::Value* v);  // IR id of a tensor the node reads
  int Output(torch::jit::Value* v);  // IR id for a tensor the node produces
  void Alias(torch::jit::Value* out, torch::jit::Value* in);  // identity ops
  plan::Node& Emit(plan::OpKind kind, torch::jit::Node* origin);
  const TensorMeta* Meta(const torch::jit::Value* v) const;
  bool IsConstantAttribute(const torch::jit::Value* v) const {
    return constant_attributes_->count(v) > 0;
  }
  plan::Graph& graph() { return graph_; }
  void CountHeavy() { ++pending_heavy_; }
  // A helper node consumed whole by the node being added: the list a cat
  // reads (before it), or the unpack of a split's pieces (after it). It
  // leaves the graph with the segment.
  void Absorb(torch::jit::Node* helper, bool after_node = false);

 private:
  const ShapeProfile& profile_;
  const std::unordered_set<const torch::jit::Value*>* constant_attributes_;
  plan::Graph graph_;
  std::unordered_map<const torch::jit::Value*, int> ids_;
  std::vector<torch::jit::Value*> inputs_;
  std::vector<torch::jit::Node*> nodes_;
  std::unordered_set<const torch::jit::Node*> node_set_;
  int heavy_nodes_ = 0;
  int pending_heavy_ = 0;
  std::vector<const torch::jit::Value*> added_ids_;  // this Add's, for rollback
  std::vector<torch::jit::Node*> absorbed_after_;  // this Add's
  std::string input_error_;  // set by Input() when an operand cannot be lowered
};

// Translates one node (import_ops.cc). Unimplemented when Kiln has no
// lowering for it, with the reason.
absl::Status ImportNode(SegmentImporter& importer, torch::jit::Node* node);

}  // namespace kiln::engine::segment

#endif  // KILN_ENGINE_SEGMENT_IMPORTER_H_

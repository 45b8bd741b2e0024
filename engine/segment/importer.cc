#include "engine/segment/importer.h"

#include "absl/strings/str_cat.h"

namespace kiln::engine::segment {

using torch::jit::Node;
using torch::jit::Value;

const TensorMeta* SegmentImporter::Meta(const Value* v) const {
  auto it = profile_.find(v);
  return it == profile_.end() ? nullptr : &it->second;
}

int SegmentImporter::Input(Value* v) {
  auto it = ids_.find(v);
  if (it != ids_.end()) return it->second;
  const TensorMeta* meta = Meta(v);
  if (meta == nullptr) {
    input_error_ = absl::StrCat("input %", v->debugName(), " has no recorded shape");
  } else if (meta->dtype != c10::ScalarType::Float) {
    input_error_ = absl::StrCat("input %", v->debugName(), " is ",
                                c10::toString(meta->dtype), ", not float32");
  }
  const int id = graph_.AddValue(meta ? meta->dims : plan::Dims{}, v->debugName());
  ids_[v] = id;
  added_ids_.push_back(v);
  inputs_.push_back(v);
  graph_.inputs.push_back(id);
  return id;
}

int SegmentImporter::Output(Value* v) {
  const TensorMeta* meta = Meta(v);
  const int id = graph_.AddValue(meta ? meta->dims : plan::Dims{}, v->debugName());
  ids_[v] = id;
  added_ids_.push_back(v);
  return id;
}

void SegmentImporter::Alias(Value* out, Value* in) {
  ids_[out] = Input(in);
  added_ids_.push_back(out);
}

plan::Node& SegmentImporter::Emit(plan::OpKind kind, Node* origin) {
  plan::Node node;
  node.kind = kind;
  node.origin = absl::StrCat(origin->kind().toQualString(), " %",
                             origin->outputs().empty() ? "" : origin->output(0)->debugName());
  graph_.nodes.push_back(std::move(node));
  return graph_.nodes.back();
}

absl::Status SegmentImporter::Add(Node* node) {
  const size_t values = graph_.values.size(), nodes = graph_.nodes.size(),
               inputs = graph_.inputs.size(), input_values = inputs_.size(),
               run_nodes = nodes_.size();
  added_ids_.clear();
  pending_heavy_ = 0;
  // Every tensor the node produces must be fp32 with a recorded shape; the
  // tensors it reads are checked as the translation asks for them (Input),
  // so operands an op ignores (instance norm's running stats) do not count.
  for (Value* v : node->outputs()) {
    const TensorMeta* meta = Meta(v);
    if (v->type()->kind() == c10::TypeKind::TensorType &&
        (meta == nullptr || meta->dtype != c10::ScalarType::Float)) {
      return absl::UnimplementedError("output is not a float32 tensor with a recorded shape");
    }
  }
  input_error_.clear();
  absorbed_after_.clear();
  absl::Status status = ImportNode(*this, node);
  if (status.ok() && !input_error_.empty()) status = absl::UnimplementedError(input_error_);
  if (!status.ok()) {
    for (const Value* v : added_ids_) ids_.erase(v);
    graph_.values.resize(values);
    graph_.nodes.resize(nodes);
    graph_.inputs.resize(inputs);
    inputs_.resize(input_values);
    for (size_t i = run_nodes; i < nodes_.size(); ++i) node_set_.erase(nodes_[i]);
    nodes_.resize(run_nodes);
    return status;
  }
  heavy_nodes_ += pending_heavy_;
  nodes_.push_back(node);
  node_set_.insert(node);
  for (Node* helper : absorbed_after_) {
    nodes_.push_back(helper);
    node_set_.insert(helper);
  }
  return absl::OkStatus();
}

void SegmentImporter::Absorb(Node* helper, bool after_node) {
  if (after_node) {
    absorbed_after_.push_back(helper);
    return;
  }
  nodes_.push_back(helper);
  node_set_.insert(helper);
}

plan::Graph SegmentImporter::Finish(std::vector<Value*>* inputs, std::vector<Value*>* outputs) {
  *inputs = inputs_;
  outputs->clear();
  for (Node* node : nodes_) {
    for (Value* v : node->outputs()) {
      auto it = ids_.find(v);
      if (it == ids_.end()) continue;
      bool used_outside = false;
      for (const torch::jit::Use& use : v->uses()) {
        used_outside |= node_set_.count(use.user) == 0;
      }
      if (used_outside) {
        outputs->push_back(v);
        graph_.outputs.push_back(it->second);
      }
    }
  }
  return graph_;
}

}  // namespace kiln::engine::segment

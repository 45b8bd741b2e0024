#include "engine/plan/fusion.h"

#include <cmath>
#include <vector>

namespace kiln::engine::plan {
namespace {

bool AcceptsPostOps(OpKind kind) {
  return kind == OpKind::kConv || kind == OpKind::kDeconv || kind == OpKind::kLinear ||
         kind == OpKind::kMatmul || kind == OpKind::kBinary;
}

bool HasSumPostOp(const Node& node) {
  for (const PostOp& p : node.post_ops) {
    if (p.kind == PostOp::Kind::kSum) return true;
  }
  return false;
}

// producer[v]: index of the node computing value v, -1 for segment inputs.
std::vector<int> Producers(const Graph& graph) {
  std::vector<int> producer(graph.values.size(), -1);
  for (size_t n = 0; n < graph.nodes.size(); ++n) producer[graph.nodes[n].output] = n;
  return producer;
}

void RemoveNodes(Graph& graph, const std::vector<bool>& removed) {
  std::vector<Node> kept;
  for (size_t n = 0; n < graph.nodes.size(); ++n) {
    if (!removed[n]) kept.push_back(std::move(graph.nodes[n]));
  }
  graph.nodes = std::move(kept);
}

// The node producing `value` when `value` is read only by one node and is
// not a segment output; -1 otherwise.
int SoleProducer(const Graph& graph, const std::vector<int>& producer,
                 const std::vector<std::vector<int>>& users, int value) {
  if (users[value].size() != 1 || graph.IsOutput(value)) return -1;
  return producer[value];
}

bool PerChannelOrScalar(const Dims& operand, const Dims& out) {
  if (operand.size() > out.size()) return false;
  Dims padded(out.size() - operand.size(), 1);
  padded.insert(padded.end(), operand.begin(), operand.end());
  int64_t elements = 1;
  for (int64_t d : padded) elements *= d;
  if (elements == 1) return true;
  if (out.size() < 2) return false;
  for (size_t i = 0; i < padded.size(); ++i) {
    if (i == 1 ? padded[i] != out[1] : padded[i] != 1) return false;
  }
  return true;
}

}  // namespace

int FuseActivations(Graph& graph) {
  int fused = 0;
  std::vector<bool> removed(graph.nodes.size(), false);
  std::vector<int> producer = Producers(graph);
  const auto users = graph.Users();
  for (size_t n = 0; n < graph.nodes.size(); ++n) {
    Node& node = graph.nodes[n];
    if (node.kind != OpKind::kEltwise || !node.post_ops.empty()) continue;
    const int p = SoleProducer(graph, producer, users, node.inputs[0]);
    if (p < 0 || removed[p] || !AcceptsPostOps(graph.nodes[p].kind)) continue;
    Node& target = graph.nodes[p];
    PostOp op;
    op.kind = PostOp::Kind::kUnary;
    op.unary = node.unary;
    target.post_ops.push_back(op);
    target.output = node.output;
    target.origin += " + " + node.origin;
    producer[node.output] = p;
    removed[n] = true;
    ++fused;
  }
  if (fused > 0) RemoveNodes(graph, removed);
  return fused;
}

int FuseBinaryIntoProducer(Graph& graph) {
  int fused = 0;
  std::vector<bool> removed(graph.nodes.size(), false);
  std::vector<int> producer = Producers(graph);
  const auto users = graph.Users();
  for (size_t n = 0; n < graph.nodes.size(); ++n) {
    Node& node = graph.nodes[n];
    if (node.kind != OpKind::kBinary) continue;
    const Dims& out = graph.values[node.output].dims;
    const bool commutative = node.binary == BinaryFn::kAdd || node.binary == BinaryFn::kMul;
    for (int side = 0; side < (commutative ? 2 : 1); ++side) {
      const int x = node.inputs[side], y = node.inputs[1 - side];
      const int p = SoleProducer(graph, producer, users, x);
      if (p < 0 || removed[p]) continue;
      Node& target = graph.nodes[p];
      if (target.kind == OpKind::kBinary || !AcceptsPostOps(target.kind)) continue;
      if (graph.values[x].dims != out) continue;
      // y (and any operand of the node's own post-ops) must exist when the
      // producer runs.
      bool operands_ready = producer[y] < p;
      for (const PostOp& later : node.post_ops) {
        if (later.operand >= 0 && producer[later.operand] >= p) operands_ready = false;
        if (later.kind == PostOp::Kind::kSum) operands_ready = false;
      }
      if (!operands_ready) continue;
      PostOp op;
      if (node.binary == BinaryFn::kAdd && graph.values[y].dims == out) {
        if (HasSumPostOp(target)) continue;
        op.kind = PostOp::Kind::kSum;
      } else if (PerChannelOrScalar(graph.values[y].dims, out)) {
        op.kind = PostOp::Kind::kBinary;
        op.binary = node.binary;
      } else {
        continue;
      }
      op.operand = y;
      target.post_ops.push_back(op);
      // What the binary node had fused (the relu after a residual add)
      // follows the sum.
      target.post_ops.insert(target.post_ops.end(), node.post_ops.begin(), node.post_ops.end());
      target.output = node.output;
      target.origin += " + " + node.origin;
      producer[node.output] = p;
      removed[n] = true;
      ++fused;
      break;
    }
  }
  if (fused > 0) RemoveNodes(graph, removed);
  return fused;
}

int FoldBatchNormIntoConv(Graph& graph) {
  int folded = 0;
  std::vector<bool> removed(graph.nodes.size(), false);
  std::vector<int> producer = Producers(graph);
  const auto users = graph.Users();
  for (size_t n = 0; n < graph.nodes.size(); ++n) {
    Node& bn = graph.nodes[n];
    if (bn.kind != OpKind::kBatchNorm || !bn.post_ops.empty()) continue;
    const int p = SoleProducer(graph, producer, users, bn.inputs[0]);
    if (p < 0 || removed[p]) continue;
    Node& conv = graph.nodes[p];
    if (conv.kind != OpKind::kConv || !conv.post_ops.empty()) continue;
    const int64_t out_channels = conv.conv.weight.dims[0];
    if (bn.mean.elements() != out_channels) continue;
    const int64_t per_channel = conv.conv.weight.elements() / out_channels;
    std::vector<float> weight(conv.conv.weight.data,
                              conv.conv.weight.data + conv.conv.weight.elements());
    std::vector<float> bias(out_channels, 0.0f);
    for (int64_t o = 0; o < out_channels; ++o) {
      const double gamma = bn.scale.data ? bn.scale.data[o] : 1.0;
      const double beta = bn.shift.data ? bn.shift.data[o] : 0.0;
      const double factor = gamma / std::sqrt(static_cast<double>(bn.variance.data[o]) + bn.epsilon);
      for (int64_t i = 0; i < per_channel; ++i) weight[o * per_channel + i] *= static_cast<float>(factor);
      const double b = conv.conv.has_bias ? conv.conv.bias.data[o] : 0.0;
      bias[o] = static_cast<float>((b - bn.mean.data[o]) * factor + beta);
    }
    conv.conv.weight = Constant::Own(conv.conv.weight.dims, std::move(weight));
    conv.conv.bias = Constant::Own({out_channels}, std::move(bias));
    conv.conv.has_bias = true;
    conv.output = bn.output;
    conv.origin += " + " + bn.origin;
    producer[bn.output] = p;
    removed[n] = true;
    ++folded;
  }
  if (folded > 0) RemoveNodes(graph, removed);
  return folded;
}

int RecognizeChannelShuffle(Graph& graph) {
  int recognized = 0;
  std::vector<bool> removed(graph.nodes.size(), false);
  std::vector<int> producer = Producers(graph);
  const auto users = graph.Users();
  for (size_t n = 0; n < graph.nodes.size(); ++n) {
    Node& merge = graph.nodes[n];  // view(N, C, ...)
    if (merge.kind != OpKind::kReshape) continue;
    const int t = SoleProducer(graph, producer, users, merge.inputs[0]);
    if (t < 0 || removed[t] || graph.nodes[t].kind != OpKind::kPermute) continue;
    const int s = SoleProducer(graph, producer, users, graph.nodes[t].inputs[0]);
    if (s < 0 || removed[s] || graph.nodes[s].kind != OpKind::kReshape) continue;
    const Dims& in = graph.values[graph.nodes[s].inputs[0]].dims;
    const Dims& split = graph.values[graph.nodes[s].output].dims;
    const Dims& out = graph.values[merge.output].dims;
    const std::vector<int>& perm = graph.nodes[t].permutation;
    if (in.size() < 3 || in != out || split.size() != in.size() + 1) continue;
    if (split[0] != in[0] || split[1] * split[2] != in[1]) continue;
    bool rest_equal = true;
    for (size_t i = 2; i < in.size(); ++i) rest_equal &= split[i + 1] == in[i];
    std::vector<int> swap12(split.size());
    for (size_t i = 0; i < swap12.size(); ++i) swap12[i] = static_cast<int>(i);
    std::swap(swap12[1], swap12[2]);
    if (!rest_equal || perm != swap12) continue;
    Node shuffle;
    shuffle.kind = OpKind::kChannelShuffle;
    shuffle.inputs = {graph.nodes[s].inputs[0]};
    shuffle.output = merge.output;
    shuffle.factor = split[1];
    shuffle.origin = graph.nodes[s].origin + " + " + graph.nodes[t].origin + " + " + merge.origin;
    removed[s] = removed[t] = true;
    merge = shuffle;
    ++recognized;
  }
  if (recognized > 0) RemoveNodes(graph, removed);
  return recognized;
}

int RunFusionPasses(Graph& graph) {
  int total = FoldBatchNormIntoConv(graph) + RecognizeChannelShuffle(graph);
  for (;;) {
    const int fused = FuseActivations(graph) + FuseBinaryIntoProducer(graph);
    if (fused == 0) return total;
    total += fused;
  }
}

}  // namespace kiln::engine::plan

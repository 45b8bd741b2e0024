#include "engine/plan/fusion.h"

#include <cmath>
#include <vector>

#include "engine/plan/split_narrow_conv.h"

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

// One scan of a fusion pass over the graph: who produces and who reads each
// value, and which nodes the pass has folded away. Removal is applied once,
// at the end, so node indices stay valid during the scan.
class Rewrite {
 public:
  explicit Rewrite(Graph& graph)
      : graph_(graph),
        removed_(graph.nodes.size(), false),
        producer_(graph.values.size(), -1),
        users_(graph.Users()) {
    for (size_t n = 0; n < graph.nodes.size(); ++n) producer_[graph.nodes[n].output] = n;
  }

  // Index of the node computing `value`; -1 for segment inputs.
  int producer(int value) const { return producer_[value]; }

  // The live node producing `value` when `value` is read only by one node
  // and is not a segment output; -1 otherwise.
  int SoleProducer(int value) const {
    if (users_[value].size() != 1 || graph_.IsOutput(value)) return -1;
    const int p = producer_[value];
    return p >= 0 && !removed_[p] ? p : -1;
  }

  // Node `n`'s work now happens in node `into`, which takes over its output.
  void FoldInto(int n, int into) {
    Node& target = graph_.nodes[into];
    const Node& node = graph_.nodes[n];
    target.output = node.output;
    target.origin += " + " + node.origin;
    producer_[node.output] = into;
    removed_[n] = true;
  }

  void Remove(int n) { removed_[n] = true; }

  // Drops the removed nodes; returns `made` for the pass to report.
  int Apply(int made) {
    if (made == 0) return 0;
    std::vector<Node> kept;
    for (size_t n = 0; n < graph_.nodes.size(); ++n) {
      if (!removed_[n]) kept.push_back(std::move(graph_.nodes[n]));
    }
    graph_.nodes = std::move(kept);
    return made;
  }

 private:
  Graph& graph_;
  std::vector<bool> removed_;
  std::vector<int> producer_;
  const std::vector<std::vector<int>> users_;
};

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
  Rewrite rewrite(graph);
  int fused = 0;
  for (size_t n = 0; n < graph.nodes.size(); ++n) {
    const Node& node = graph.nodes[n];
    if (node.kind != OpKind::kEltwise || !node.post_ops.empty()) continue;
    const int p = rewrite.SoleProducer(node.inputs[0]);
    if (p < 0 || !AcceptsPostOps(graph.nodes[p].kind)) continue;
    PostOp op;
    op.kind = PostOp::Kind::kUnary;
    op.unary = node.unary;
    graph.nodes[p].post_ops.push_back(op);
    rewrite.FoldInto(n, p);
    ++fused;
  }
  return rewrite.Apply(fused);
}

int FuseBinaryIntoProducer(Graph& graph) {
  Rewrite rewrite(graph);
  int fused = 0;
  for (size_t n = 0; n < graph.nodes.size(); ++n) {
    Node& node = graph.nodes[n];
    if (node.kind != OpKind::kBinary) continue;
    const Dims& out = graph.values[node.output].dims;
    const bool commutative = node.binary == BinaryFn::kAdd || node.binary == BinaryFn::kMul;
    for (int side = 0; side < (commutative ? 2 : 1); ++side) {
      const int x = node.inputs[side], y = node.inputs[1 - side];
      const int p = rewrite.SoleProducer(x);
      if (p < 0) continue;
      Node& target = graph.nodes[p];
      if (target.kind == OpKind::kBinary || !AcceptsPostOps(target.kind)) continue;
      if (graph.values[x].dims != out) continue;
      // y (and any operand of the node's own post-ops) must exist when the
      // producer runs.
      bool operands_ready = rewrite.producer(y) < p;
      for (const PostOp& later : node.post_ops) {
        if (later.operand >= 0 && rewrite.producer(later.operand) >= p) operands_ready = false;
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
      rewrite.FoldInto(n, p);
      ++fused;
      break;
    }
  }
  return rewrite.Apply(fused);
}

namespace {

// Output channel of each weight element, in the IR's layouts: (O, I/g, k...)
// for convolution, (I, O/g, k...) for transposed convolution.
std::vector<int64_t> OutputChannelOfWeights(const Node& conv) {
  const Dims& w = conv.conv.weight.dims;
  const int64_t total = conv.conv.weight.elements();
  std::vector<int64_t> channel(total);
  if (conv.kind == OpKind::kConv) {
    const int64_t per_channel = total / w[0];
    for (int64_t e = 0; e < total; ++e) channel[e] = e / per_channel;
    return channel;
  }
  const int64_t out_per_group = w[1], in_per_group = w[0] / conv.conv.groups;
  const int64_t kernel = total / (w[0] * w[1]);
  for (int64_t e = 0; e < total; ++e) {
    const int64_t in = e / (out_per_group * kernel), local_out = (e / kernel) % out_per_group;
    channel[e] = (in / in_per_group) * out_per_group + local_out;
  }
  return channel;
}

}  // namespace

int FoldBatchNormIntoConv(Graph& graph) {
  Rewrite rewrite(graph);
  int folded = 0;
  for (size_t n = 0; n < graph.nodes.size(); ++n) {
    const Node& bn = graph.nodes[n];
    if (bn.kind != OpKind::kBatchNorm || !bn.post_ops.empty()) continue;
    const int p = rewrite.SoleProducer(bn.inputs[0]);
    if (p < 0) continue;
    Node& conv = graph.nodes[p];
    if ((conv.kind != OpKind::kConv && conv.kind != OpKind::kDeconv) || !conv.post_ops.empty() ||
        conv.conv.weight_is_input) {
      continue;
    }
    const int64_t out_channels = graph.values[conv.output].dims[1];
    if (bn.mean.elements() != out_channels) continue;
    std::vector<double> factor(out_channels);
    std::vector<float> bias(out_channels, 0.0f);
    for (int64_t o = 0; o < out_channels; ++o) {
      const double gamma = bn.scale.data ? bn.scale.data[o] : 1.0;
      const double beta = bn.shift.data ? bn.shift.data[o] : 0.0;
      factor[o] = gamma / std::sqrt(static_cast<double>(bn.variance.data[o]) + bn.epsilon);
      const double b = conv.conv.has_bias ? conv.conv.bias.data[o] : 0.0;
      bias[o] = static_cast<float>((b - bn.mean.data[o]) * factor[o] + beta);
    }
    const std::vector<int64_t> channel = OutputChannelOfWeights(conv);
    std::vector<float> weight(conv.conv.weight.data,
                              conv.conv.weight.data + conv.conv.weight.elements());
    for (size_t e = 0; e < weight.size(); ++e) {
      weight[e] = static_cast<float>(weight[e] * factor[channel[e]]);
    }
    conv.conv.weight = Constant::Own(conv.conv.weight.dims, std::move(weight));
    conv.conv.bias = Constant::Own({out_channels}, std::move(bias));
    conv.conv.has_bias = true;
    rewrite.FoldInto(n, p);
    ++folded;
  }
  return rewrite.Apply(folded);
}

int RecognizeChannelShuffle(Graph& graph) {
  Rewrite rewrite(graph);
  int recognized = 0;
  for (size_t n = 0; n < graph.nodes.size(); ++n) {
    Node& merge = graph.nodes[n];  // view(N, C, ...)
    if (merge.kind != OpKind::kReshape) continue;
    const int t = rewrite.SoleProducer(merge.inputs[0]);
    if (t < 0 || graph.nodes[t].kind != OpKind::kPermute) continue;
    const int s = rewrite.SoleProducer(graph.nodes[t].inputs[0]);
    if (s < 0 || graph.nodes[s].kind != OpKind::kReshape) continue;
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
    rewrite.Remove(s);
    rewrite.Remove(t);
    merge = shuffle;
    ++recognized;
  }
  return rewrite.Apply(recognized);
}

int RunFusionPasses(Graph& graph) {
  int total = FoldBatchNormIntoConv(graph) + RecognizeChannelShuffle(graph);
  total += SplitNarrowConvolutions(graph);
  for (;;) {
    const int fused = FuseActivations(graph) + FuseBinaryIntoProducer(graph);
    if (fused == 0) return total;
    total += fused;
  }
}

}  // namespace kiln::engine::plan

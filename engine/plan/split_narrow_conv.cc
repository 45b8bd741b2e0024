#include "engine/plan/split_narrow_conv.h"

#include <utility>
#include <vector>

namespace kiln::engine::plan {
namespace {

constexpr int64_t kMaxOutputs = 8;
constexpr int64_t kMinRows = 3;
constexpr double kMinFlops = 2e6;

bool Qualifies(const Graph& graph, const Node& n) {
  if (n.kind != OpKind::kConv || n.conv.weight_is_input || n.conv.groups != 1 ||
      !n.post_ops.empty() || n.conv.weight.dims.size() != 4) {
    return false;
  }
  for (int64_t d : n.conv.dilation) {
    if (d != 1) return false;
  }
  for (int64_t p : n.conv.padding_r) {
    if (p < 0) return false;
  }
  const Dims& w = n.conv.weight.dims;  // (O, C, kh, kw)
  const Dims& out = graph.values[n.output].dims;
  const double flops = 2.0 * out[0] * out[2] * out[3] * w[0] * w[1] * w[2] * w[3];
  return w[0] <= kMaxOutputs && w[2] >= kMinRows && flops >= kMinFlops;
}

}  // namespace

int SplitNarrowConvolutions(Graph& graph) {
  int split = 0;
  std::vector<Node> nodes;
  nodes.reserve(graph.nodes.size());
  for (Node& n : graph.nodes) {
    if (!Qualifies(graph, n)) {
      nodes.push_back(std::move(n));
      continue;
    }
    const Dims w = n.conv.weight.dims;
    const int64_t outputs = w[0], channels = w[1], rows = w[2], cols = w[3];
    const Dims& in = graph.values[n.inputs[0]].dims;
    const Dims& out = graph.values[n.output].dims;

    Node a;  // 1 x kw over every padded row: (o, ky) outputs
    a.kind = OpKind::kConv;
    a.inputs = {n.inputs[0]};
    a.conv.strides = {1, n.conv.strides[1]};
    a.conv.padding_l = n.conv.padding_l;
    a.conv.padding_r = n.conv.padding_r;
    a.conv.dilation = {1, 1};
    std::vector<float> wa(outputs * rows * channels * cols);
    for (int64_t o = 0; o < outputs; ++o)
      for (int64_t ky = 0; ky < rows; ++ky)
        for (int64_t c = 0; c < channels; ++c)
          for (int64_t kx = 0; kx < cols; ++kx)
            wa[(((o * rows + ky) * channels + c) * cols) + kx] =
                n.conv.weight.data[((o * channels + c) * rows + ky) * cols + kx];
    a.conv.weight = Constant::Own({outputs * rows, channels, 1, cols}, std::move(wa));
    const int64_t padded_rows = in[2] + n.conv.padding_l[0] + n.conv.padding_r[0];
    a.output = graph.AddValue({in[0], outputs * rows, padded_rows, out[3]},
                              graph.values[n.output].name + ".rows");
    a.origin = n.origin + " (rows)";

    Node b;  // kh x 1: each output sums its kh row partials, shifted
    b.kind = OpKind::kConv;
    b.inputs = {a.output};
    b.conv.strides = {n.conv.strides[0], 1};
    b.conv.padding_l = {0, 0};
    b.conv.padding_r = {0, 0};
    b.conv.dilation = {1, 1};
    std::vector<float> wb(outputs * outputs * rows * rows, 0.0f);
    for (int64_t o = 0; o < outputs; ++o)
      for (int64_t ky = 0; ky < rows; ++ky)
        wb[((o * outputs * rows) + (o * rows + ky)) * rows + ky] = 1.0f;
    b.conv.weight = Constant::Own({outputs, outputs * rows, rows, 1}, std::move(wb));
    b.conv.has_bias = n.conv.has_bias;
    b.conv.bias = n.conv.bias;
    b.output = n.output;
    b.origin = n.origin + " (sum of rows)";

    nodes.push_back(std::move(a));
    nodes.push_back(std::move(b));
    ++split;
  }
  graph.nodes = std::move(nodes);
  return split;
}

}  // namespace kiln::engine::plan

// Lowerings that only move data: reshape (a view of a plain tensor, no
// copy), permute, concat, pixel shuffle and channel shuffle (one strided
// reorder each).
#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "engine/plan/build_context.h"

namespace kiln::engine::plan::internal {
namespace {

using dt = memory::data_type;

memory::dims PlainStrides(const Dims& dims) {
  memory::dims strides(dims.size(), 1);
  for (int i = static_cast<int>(dims.size()) - 2; i >= 0; --i) {
    strides[i] = strides[i + 1] * dims[i + 1];
  }
  return strides;
}

// Reads a plain input through `view_dims` / `view_strides` into a new plain
// tensor of `view_dims`, then presents it with the output's dims.
absl::Status StridedCopy(BuildContext& ctx, const Node& node, const Dims& view_dims,
                         const memory::dims& view_strides, const std::string& what) {
  const int src_plain = ctx.ValueSlot(node.inputs[0]);
  const dt type = ctx.slot(src_plain).md.data_type();
  const int plain = ctx.PlainSlot(node.inputs[0], type);
  const int view = ctx.AliasSlot(plain, memory::desc(ToDnnl(view_dims), type, view_strides));
  const int copy = ctx.NewArenaSlot(PlainDesc(view_dims, type));
  ctx.Reorder(view, copy, what);
  ctx.SetValueSlot(node.output,
                   ctx.AliasSlot(copy, PlainDesc(ctx.graph().values[node.output].dims, type)));
  return absl::OkStatus();
}

}  // namespace

absl::Status LowerReshape(BuildContext& ctx, const Node& node) {
  const dt type = ctx.slot(ctx.ValueSlot(node.inputs[0])).md.data_type();
  const int plain = ctx.PlainSlot(node.inputs[0], type);
  ctx.SetValueSlot(node.output,
                   ctx.AliasSlot(plain, PlainDesc(ctx.graph().values[node.output].dims, type)));
  return absl::OkStatus();
}

absl::Status LowerPermute(BuildContext& ctx, const Node& node) {
  const Dims& in = ctx.graph().values[node.inputs[0]].dims;
  const memory::dims in_strides = PlainStrides(in);
  Dims view_dims;
  memory::dims view_strides;
  for (int axis : node.permutation) {
    view_dims.push_back(in[axis]);
    view_strides.push_back(in_strides[axis]);
  }
  return StridedCopy(ctx, node, view_dims, view_strides,
                     absl::StrCat("permute ", absl::StrJoin(node.permutation, ",")));
}

absl::Status LowerPixelShuffle(BuildContext& ctx, const Node& node) {
  // (N, C*r*r, H, W) -> (N, C, H*r, W*r): read as (N, C, H, r, W, r) through
  // the input's own strides when it is not blocked (a convolution's
  // channels-last result needs no reorder first), written channels-last
  // then (what the next convolution wants) or plain.
  const Dims& in = ctx.graph().values[node.inputs[0]].dims;
  const Dims& out_dims = ctx.graph().values[node.output].dims;
  const int64_t r = node.factor, n = in[0], c = in[1] / (r * r), h = in[2], w = in[3];
  int src = ctx.ValueSlot(node.inputs[0]);
  const dt type = ctx.slot(src).md.data_type();
  if (ctx.slot(src).md.data.format_desc.blocking.inner_nblks > 0) {
    src = ctx.PlainSlot(node.inputs[0], type);
  }
  const memory::desc src_md = ctx.slot(src).md;
  const auto& s = src_md.data.format_desc.blocking.strides;
  const bool channels_last = s[1] == 1 && in[1] > 1;
  const Dims view_dims = {n, c, h, r, w, r};
  const memory::dims read = {s[0], s[1] * r * r, s[2], s[1] * r, s[3], s[1]};
  const memory::desc dst_md =
      channels_last ? ChannelsLastDesc(out_dims, type) : PlainDesc(out_dims, type);
  const auto& d = dst_md.data.format_desc.blocking.strides;
  const memory::dims write = {d[0], d[1], d[2] * r, d[2], d[3] * r, d[3]};
  const int dst = ctx.NewArenaSlot(dst_md);
  ctx.Reorder(ctx.AliasSlot(src, memory::desc(ToDnnl(view_dims), type, read)),
              ctx.AliasSlot(dst, memory::desc(ToDnnl(view_dims), type, write)),
              absl::StrCat("pixel_shuffle ", r, channels_last ? " channels-last" : ""));
  ctx.SetValueSlot(node.output, dst);
  return absl::OkStatus();
}

absl::Status LowerChannelShuffle(BuildContext& ctx, const Node& node) {
  // oneDNN's shuffle works in whatever layout the input has (nhwc or
  // blocked), so the shuffle between two convolutions costs no reorders.
  const int src = ctx.ValueSlot(node.inputs[0]);
  const memory::desc md = ctx.slot(src).md;
  dnnl::primitive_attr attr;
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  // oneDNN's group_size is the size of each group (C / groups), PyTorch's
  // argument the number of groups.
  const int64_t channels = ctx.graph().values[node.inputs[0]].dims[1];
  dnnl::shuffle_forward::desc desc(dnnl::prop_kind::forward_inference, md, 1,
                                   channels / node.factor);
  dnnl::shuffle_forward::primitive_desc pd(desc, ctx.engine(), attr);
  const int dst = ctx.NewArenaSlot(md);
  ctx.NoteScratchpad(pd.scratchpad_desc());
  ctx.AddStep(dnnl::shuffle_forward(pd), {{DNNL_ARG_SRC, src}, {DNNL_ARG_DST, dst}},
              absl::StrCat("channel_shuffle ", node.factor, " ", LayoutName(md)));
  ctx.SetValueSlot(node.output, dst);
  return absl::OkStatus();
}

absl::Status LowerSlice(BuildContext& ctx, const Node& node) {
  int src = ctx.ValueSlot(node.inputs[0]);
  memory::desc md = ctx.slot(src).md;
  if (md.data.format_desc.blocking.inner_nblks > 0) {  // blocked: slice a plain copy
    src = ctx.PlainSlot(node.inputs[0], md.data_type());
    md = ctx.slot(src).md;
  }
  const Dims& out = ctx.graph().values[node.output].dims;
  memory::dims offsets(out.size(), 0);
  offsets[node.axis] = node.start;
  const int view = ctx.AliasSlot(src, md.submemory_desc(ToDnnl(out), offsets));
  // The slice keeps the source's dim order (nhwc stays nhwc), densely.
  const auto& strides = md.data.format_desc.blocking.strides;
  std::vector<int> order(out.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = static_cast<int>(i);
  std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return strides[a] > strides[b]; });
  memory::dims dense(out.size());
  int64_t step = 1;
  for (auto it = order.rbegin(); it != order.rend(); ++it) {
    dense[*it] = step;
    step *= out[*it];
  }
  const int dst = ctx.NewArenaSlot(memory::desc(ToDnnl(out), md.data_type(), dense));
  ctx.Reorder(view, dst, absl::StrCat("slice axis ", node.axis, " from ", node.start));
  ctx.SetValueSlot(node.output, dst);
  return absl::OkStatus();
}

absl::Status LowerConcat(BuildContext& ctx, const Node& node) {
  std::vector<int> srcs;
  bool same_type = true;
  const dt first = ctx.slot(ctx.ValueSlot(node.inputs[0])).md.data_type();
  for (int v : node.inputs) same_type &= ctx.slot(ctx.ValueSlot(v)).md.data_type() == first;
  std::vector<memory::desc> mds;
  for (int v : node.inputs) {
    srcs.push_back(same_type ? ctx.ValueSlot(v) : ctx.PlainSlot(v, dt::f32));
    mds.push_back(ctx.slot(srcs.back()).md);
  }
  dnnl::primitive_attr attr;
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  dnnl::concat::primitive_desc pd(node.axis, mds, ctx.engine(), attr);
  const int dst = ctx.NewArenaSlot(pd.dst_desc());
  std::vector<std::pair<int, int>> args = {{DNNL_ARG_DST, dst}};
  for (size_t i = 0; i < srcs.size(); ++i) {
    args.push_back({DNNL_ARG_MULTIPLE_SRC + static_cast<int>(i), srcs[i]});
  }
  ctx.NoteScratchpad(pd.scratchpad_desc());
  ctx.AddStep(dnnl::concat(pd), std::move(args),
              absl::StrCat("concat axis ", node.axis, " ", LayoutName(pd.dst_desc())));
  ctx.SetValueSlot(node.output, dst);
  return absl::OkStatus();
}

}  // namespace kiln::engine::plan::internal

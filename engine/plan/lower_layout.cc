// Lowerings that only move data: reshape (a view of a plain tensor, no
// copy), permute, concat, pixel shuffle and channel shuffle (one strided
// reorder each).
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
  // (N, C*r*r, H, W) -> (N, C, H*r, W*r): read as (N, C, H, r, W, r).
  const Dims& in = ctx.graph().values[node.inputs[0]].dims;
  const int64_t r = node.factor, n = in[0], c = in[1] / (r * r), h = in[2], w = in[3];
  const Dims view_dims = {n, c, h, r, w, r};
  const memory::dims view_strides = {c * r * r * h * w, r * r * h * w, w, r * h * w, 1, h * w};
  return StridedCopy(ctx, node, view_dims, view_strides, absl::StrCat("pixel_shuffle ", r));
}

absl::Status LowerChannelShuffle(BuildContext& ctx, const Node& node) {
  // (N, g*k, H, W) -> channels (k, g) order: read as (N, k, g, H, W).
  const Dims& in = ctx.graph().values[node.inputs[0]].dims;
  const int64_t g = node.factor, n = in[0], k = in[1] / g;
  int64_t spatial = 1;
  for (size_t i = 2; i < in.size(); ++i) spatial *= in[i];
  Dims view_dims = {n, k, g};
  memory::dims view_strides = {in[1] * spatial, spatial, k * spatial};
  const memory::dims in_strides = PlainStrides(in);
  for (size_t i = 2; i < in.size(); ++i) {
    view_dims.push_back(in[i]);
    view_strides.push_back(in_strides[i]);
  }
  return StridedCopy(ctx, node, view_dims, view_strides, absl::StrCat("channel_shuffle ", g));
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

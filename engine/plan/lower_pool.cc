// Lowerings of pooling, softmax, standalone batch norm and resampling. They
// read their input in the layout it already has where oneDNN allows.
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "engine/plan/build_context.h"

namespace kiln::engine::plan::internal {
namespace {

using dt = memory::data_type;
using tag = memory::format_tag;

memory::dims MinusOne(const Dims& dilation) {
  memory::dims d;
  for (int64_t x : dilation) d.push_back(x - 1);
  return d;
}

dnnl::primitive_attr UserScratchpad() {
  dnnl::primitive_attr attr;
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  return attr;
}

}  // namespace

absl::Status LowerPool(BuildContext& ctx, const Node& node) {
  const int src = ctx.ValueSlot(node.inputs[0]);
  const memory::desc src_md = ctx.slot(src).md;
  const Dims& out = ctx.graph().values[node.output].dims;
  const dnnl::algorithm algorithm =
      node.pool.max ? dnnl::algorithm::pooling_max
                    : (node.pool.count_include_pad ? dnnl::algorithm::pooling_avg_include_padding
                                                   : dnnl::algorithm::pooling_avg_exclude_padding);
  Dims dilation = node.pool.dilation;
  if (dilation.empty()) dilation.assign(node.pool.kernel.size(), 1);
  dnnl::pooling_v2_forward::desc desc(
      dnnl::prop_kind::forward_inference, algorithm, src_md,
      memory::desc(ToDnnl(out), src_md.data_type(), tag::any), ToDnnl(node.pool.strides),
      ToDnnl(node.pool.kernel), MinusOne(dilation), ToDnnl(node.pool.padding_l),
      ToDnnl(node.pool.padding_r));
  dnnl::pooling_v2_forward::primitive_desc pd(desc, UserScratchpad(), ctx.engine());
  const int dst = ctx.NewArenaSlot(pd.dst_desc());
  ctx.NoteScratchpad(pd.scratchpad_desc());
  ctx.AddStep(dnnl::pooling_v2_forward(pd), {{DNNL_ARG_SRC, src}, {DNNL_ARG_DST, dst}},
              absl::StrCat(node.pool.max ? "maxpool " : "avgpool ",
                           absl::StrJoin(node.pool.kernel, "x"), " -> ",
                           absl::StrJoin(out, "x"), " ", LayoutName(pd.dst_desc())));
  ctx.SetValueSlot(node.output, dst);
  return absl::OkStatus();
}

absl::Status LowerSoftmax(BuildContext& ctx, const Node& node) {
  const int src = ctx.PlainSlot(node.inputs[0], dt::f32);
  const memory::desc md = ctx.slot(src).md;
  const int dst = ctx.NewArenaSlot(md);
  if (node.log_softmax) {
    dnnl::logsoftmax_forward::desc desc(dnnl::prop_kind::forward_inference, md, node.axis);
    dnnl::logsoftmax_forward::primitive_desc pd(desc, UserScratchpad(), ctx.engine());
    ctx.NoteScratchpad(pd.scratchpad_desc());
    ctx.AddStep(dnnl::logsoftmax_forward(pd), {{DNNL_ARG_SRC, src}, {DNNL_ARG_DST, dst}},
                absl::StrCat("log_softmax axis ", node.axis));
  } else {
    dnnl::softmax_forward::desc desc(dnnl::prop_kind::forward_inference, md, node.axis);
    dnnl::softmax_forward::primitive_desc pd(desc, UserScratchpad(), ctx.engine());
    ctx.NoteScratchpad(pd.scratchpad_desc());
    ctx.AddStep(dnnl::softmax_forward(pd), {{DNNL_ARG_SRC, src}, {DNNL_ARG_DST, dst}},
                absl::StrCat("softmax axis ", node.axis));
  }
  ctx.SetValueSlot(node.output, dst);
  return absl::OkStatus();
}

absl::Status LowerBatchNorm(BuildContext& ctx, const Node& node) {
  const int src = ctx.ValueSlot(node.inputs[0]);
  const memory::desc md = ctx.slot(src).md;
  auto flags = dnnl::normalization_flags::use_global_stats;
  if (node.scale.data != nullptr) flags = flags | dnnl::normalization_flags::use_scale;
  if (node.shift.data != nullptr) flags = flags | dnnl::normalization_flags::use_shift;
  dnnl::batch_normalization_forward::desc desc(dnnl::prop_kind::forward_inference, md,
                                               node.epsilon, flags);
  dnnl::batch_normalization_forward::primitive_desc pd(desc, UserScratchpad(), ctx.engine());
  const int dst = ctx.NewArenaSlot(md);
  std::vector<std::pair<int, int>> args = {{DNNL_ARG_SRC, src}, {DNNL_ARG_DST, dst}};
  auto add_vector = [&](const Constant& c, int arg) {
    const memory::desc vmd({c.elements()}, dt::f32, tag::a);
    args.push_back({arg, ctx.AddConstantSlot(ctx.Prepack(c, vmd, vmd))});
  };
  add_vector(node.mean, DNNL_ARG_MEAN);
  add_vector(node.variance, DNNL_ARG_VARIANCE);
  if (node.scale.data != nullptr) add_vector(node.scale, DNNL_ARG_SCALE);
  if (node.shift.data != nullptr) add_vector(node.shift, DNNL_ARG_SHIFT);
  ctx.NoteScratchpad(pd.scratchpad_desc());
  ctx.AddStep(dnnl::batch_normalization_forward(pd), std::move(args),
              absl::StrCat("batch_norm ", LayoutName(md)));
  ctx.SetValueSlot(node.output, dst);
  return absl::OkStatus();
}

absl::Status LowerInstanceNorm(BuildContext& ctx, const Node& node) {
  // Instance norm is batch norm over (1, N*C, spatial...): statistics per
  // (sample, channel), computed at run time; the affine weights repeat per
  // sample.
  const Dims& dims = ctx.graph().values[node.inputs[0]].dims;
  Dims folded = dims;
  folded[1] = dims[0] * dims[1];
  folded[0] = 1;
  const int64_t channels = folded[1];
  const memory::desc md = PlainDesc(folded, dt::f32);
  const int src = ctx.AliasSlot(ctx.PlainSlot(node.inputs[0], dt::f32), md);
  auto flags = dnnl::normalization_flags::none;
  if (node.scale.data != nullptr) flags = flags | dnnl::normalization_flags::use_scale;
  if (node.shift.data != nullptr) flags = flags | dnnl::normalization_flags::use_shift;
  dnnl::batch_normalization_forward::desc desc(dnnl::prop_kind::forward_inference, md,
                                               node.epsilon, flags);
  dnnl::batch_normalization_forward::primitive_desc pd(desc, UserScratchpad(), ctx.engine());
  const int dst = ctx.NewArenaSlot(md);
  const memory::desc stats_md({channels}, dt::f32, tag::a);
  std::vector<std::pair<int, int>> args = {{DNNL_ARG_SRC, src},
                                           {DNNL_ARG_DST, dst},
                                           {DNNL_ARG_MEAN, ctx.NewArenaSlot(stats_md)},
                                           {DNNL_ARG_VARIANCE, ctx.NewArenaSlot(stats_md)}};
  auto add_tiled = [&](const Constant& c, int arg) {
    std::vector<float> tiled;
    for (int64_t n = 0; n < dims[0]; ++n) tiled.insert(tiled.end(), c.data, c.data + c.elements());
    const Constant t = Constant::Own({channels}, std::move(tiled));
    args.push_back({arg, ctx.AddConstantSlot(ctx.Prepack(t, stats_md, stats_md))});
  };
  if (node.scale.data != nullptr) add_tiled(node.scale, DNNL_ARG_SCALE);
  if (node.shift.data != nullptr) add_tiled(node.shift, DNNL_ARG_SHIFT);
  ctx.NoteScratchpad(pd.scratchpad_desc());
  ctx.AddStep(dnnl::batch_normalization_forward(pd), std::move(args),
              absl::StrCat("instance_norm ", absl::StrJoin(dims, "x")));
  ctx.SetValueSlot(node.output, ctx.AliasSlot(dst, PlainDesc(dims, dt::f32)));
  return absl::OkStatus();
}

absl::Status LowerResample(BuildContext& ctx, const Node& node) {
  const int src = ctx.ValueSlot(node.inputs[0]);
  const memory::desc src_md = ctx.slot(src).md;
  const Dims& out = ctx.graph().values[node.output].dims;
  const auto algorithm = node.resample.bilinear ? dnnl::algorithm::resampling_linear
                                                : dnnl::algorithm::resampling_nearest;
  dnnl::resampling_forward::desc desc(dnnl::prop_kind::forward_inference, algorithm, src_md,
                                      memory::desc(ToDnnl(out), src_md.data_type(), tag::any));
  dnnl::resampling_forward::primitive_desc pd(desc, UserScratchpad(), ctx.engine());
  const int dst = ctx.NewArenaSlot(pd.dst_desc());
  ctx.NoteScratchpad(pd.scratchpad_desc());
  ctx.AddStep(dnnl::resampling_forward(pd), {{DNNL_ARG_SRC, src}, {DNNL_ARG_DST, dst}},
              absl::StrCat(node.resample.bilinear ? "bilinear " : "nearest ",
                           absl::StrJoin(out, "x"), " ", LayoutName(pd.dst_desc())));
  ctx.SetValueSlot(node.output, dst);
  return absl::OkStatus();
}

}  // namespace kiln::engine::plan::internal

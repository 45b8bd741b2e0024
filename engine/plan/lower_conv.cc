// Lowerings of the compute-heavy nodes: convolution, transposed convolution,
// linear and matmul. Their source, weights and destination layouts are left
// to oneDNN (format "any"); weights are prepacked once into the chosen layout.
#include <optional>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "engine/plan/build_context.h"
#include "engine/plan/primitive_timer.h"

namespace kiln::engine::plan::internal {
namespace {

using dt = memory::data_type;
using tag = memory::format_tag;

memory::desc AnyDesc(const Dims& dims, dt type) {
  return memory::desc(ToDnnl(dims), type, tag::any);
}

memory::dims MinusOne(const Dims& dilation) {
  memory::dims d;
  for (int64_t x : dilation) d.push_back(x - 1);
  return d;
}

std::string PostOpText(const std::vector<PostOp>& post_ops) {
  std::string text;
  for (const PostOp& p : post_ops) {
    switch (p.kind) {
      case PostOp::Kind::kUnary: absl::StrAppend(&text, " +", UnaryName(p.unary.function)); break;
      case PostOp::Kind::kSum: absl::StrAppend(&text, " +sum"); break;
      case PostOp::Kind::kBinary: absl::StrAppend(&text, " +", BinaryName(p.binary)); break;
    }
  }
  return text;
}

// Dense with the channel dim innermost (nhwc and friends).
bool IsChannelsLast(const memory::desc& md) {
  const dnnl_memory_desc_t& d = md.data;
  if (d.format_kind != dnnl_blocked || d.format_desc.blocking.inner_nblks != 0 || d.ndims < 3) {
    return false;
  }
  return d.format_desc.blocking.strides[1] == 1;
}

bool HasSum(const std::vector<PostOp>& post_ops, int* operand) {
  for (const PostOp& p : post_ops) {
    if (p.kind == PostOp::Kind::kSum) {
      *operand = p.operand;
      return true;
    }
  }
  return false;
}

// Weight descriptors in PyTorch's layout: (O, I/g, k...) for convolution,
// (I, O/g, k...) for transposed convolution, grouped as oneDNN wants.
memory::desc UserWeightDesc(const ConvAttrs& conv, bool transposed) {
  const Dims& w = conv.weight.dims;
  const int spatial = static_cast<int>(w.size()) - 2;
  const int64_t g = conv.groups;
  memory::dims dims;
  if (!transposed) {
    if (g == 1) {
      dims = ToDnnl(w);
    } else {
      dims = {g, w[0] / g, w[1]};
    }
  } else {
    // PyTorch (I, O/g, k): oneDNN wants (g, O/g, I/g, k) read through strides.
    if (g == 1) {
      dims = {w[1], w[0]};
    } else {
      dims = {g, w[1], w[0] / g};
    }
  }
  if (transposed || g != 1) {
    for (int s = 0; s < spatial; ++s) dims.push_back(w[2 + s]);
  }
  if (!transposed) return PlainDesc(Dims(dims.begin(), dims.end()), dt::f32);
  // Strides of the PyTorch tensor, arranged in oneDNN's dim order.
  int64_t spatial_size = 1;
  for (int s = 0; s < spatial; ++s) spatial_size *= w[2 + s];
  memory::dims strides;
  const int64_t o_stride = spatial_size, i_stride = w[1] * spatial_size;
  if (g == 1) {
    strides = {o_stride, i_stride};
  } else {
    strides = {(w[0] / g) * i_stride, o_stride, i_stride};
  }
  int64_t inner = 1;
  memory::dims spatial_strides(spatial);
  for (int s = spatial - 1; s >= 0; --s) {
    spatial_strides[s] = inner;
    inner *= w[2 + s];
  }
  strides.insert(strides.end(), spatial_strides.begin(), spatial_strides.end());
  return memory::desc(dims, dt::f32, strides);
}

memory::desc AnyWeightDesc(const memory::desc& user, dt type) {
  return memory::desc(user.dims(), type, tag::any);
}

// A weight computed at run time (value `weight_value`, PyTorch's layout) in
// the primitive's layout: one reorder per run.
int RuntimeWeights(BuildContext& ctx, int weight_value, const memory::desc& user_weights,
                   const memory::desc& target) {
  const memory::data_type type = target.data_type();
  const int plain = ctx.PlainSlot(weight_value, type);
  const memory::dims dims = user_weights.dims();
  const int user = ctx.AliasSlot(plain, PlainDesc(Dims(dims.begin(), dims.end()), type));
  if (ctx.slot(user).md == target) return user;
  const int packed = ctx.NewArenaSlot(target);
  ctx.Reorder(user, packed, "weights computed at run time -> " + LayoutName(target));
  return packed;
}

// Records the step of a convolution-like primitive reading value `src_value`
// (and, for a weight computed at run time, value `weight_value`) and returns
// the slot of its destination.
template <typename Primitive, typename PrimitiveDesc>
int FinishConvLike(BuildContext& ctx, const ConvAttrs& conv, const std::vector<PostOp>& post_ops,
                   int src_value, int weight_value, const Dims& dst_dims, const PrimitiveDesc& pd,
                   const memory::desc& user_weights, std::vector<std::pair<int, int>> extra_args,
                   const std::string& what) {
  const int src = ctx.SlotAs(src_value, pd.src_desc());
  const int weights =
      weight_value >= 0
          ? RuntimeWeights(ctx, weight_value, user_weights, pd.weights_desc())
          : ctx.AddConstantSlot(ctx.Prepack(conv.weight, user_weights, pd.weights_desc()));
  std::vector<std::pair<int, int>> args = {{DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, weights}};
  if (conv.has_bias) {
    const memory::desc bias_md = PlainDesc(conv.bias.dims, dt::f32);
    const int bias = ctx.AddConstantSlot(ctx.Prepack(conv.bias, bias_md, pd.bias_desc()));
    args.push_back({DNNL_ARG_BIAS, bias});
  }
  int sum_operand = -1;
  const int dst = HasSum(post_ops, &sum_operand) ? ctx.SumDestination(sum_operand, pd.dst_desc())
                                                 : ctx.NewArenaSlot(pd.dst_desc());
  args.push_back({DNNL_ARG_DST, dst});
  args.insert(args.end(), extra_args.begin(), extra_args.end());
  ctx.NoteScratchpad(pd.scratchpad_desc());
  ctx.AddStep(Primitive(pd), std::move(args),
              absl::StrCat(what, " ", absl::StrJoin(dst_dims, "x"), " ", LayoutName(pd.dst_desc()),
                           PostOpText(post_ops)));
  return dst;
}

// Every descriptor a convolution step reads or writes, for timing it.
std::vector<std::pair<int, memory::desc>> TimingArgs(
    const BuildContext& ctx, const dnnl::convolution_forward::primitive_desc& pd,
    const std::vector<std::pair<int, int>>& extra) {
  std::vector<std::pair<int, memory::desc>> args = {{DNNL_ARG_SRC, pd.src_desc()},
                                                    {DNNL_ARG_WEIGHTS, pd.weights_desc()},
                                                    {DNNL_ARG_BIAS, pd.bias_desc()},
                                                    {DNNL_ARG_DST, pd.dst_desc()},
                                                    {DNNL_ARG_SCRATCHPAD, pd.scratchpad_desc()}};
  for (const auto& [arg, slot] : extra) args.push_back({arg, ctx.slot(slot).md});
  return args;
}

// A run of the direct convolution from the layout the value has.
Candidate DirectCandidate(const BuildContext& ctx, const memory::desc& input_md,
                          const dnnl::convolution_forward::primitive_desc& direct,
                          const std::vector<std::pair<int, int>>& extra) {
  return Sequence({ReorderCandidate(input_md, direct.src_desc(), ctx.engine()),
                   PrimitiveCandidate(dnnl::convolution_forward(direct),
                                      TimingArgs(ctx, direct, extra), ctx.engine())});
}

// oneDNN's Winograd convolution (F(2,3) or F(4,3): 2.25-4x fewer
// multiplications) for an fp32 3x3 stride-1 convolution, when this CPU has an
// implementation for it and it measures at least 10 % faster than `direct`
// at the plan's thread count, each timed with the reorder its source layout
// needs from `input_md` (the layout the value has) and Winograd with one from
// its destination layout to the direct convolution's (what the consumers
// would otherwise get: a blocked Winograd output amid channels-last
// convolutions costs reorders that decide small layers). Its rounding differs from the direct convolution's; a plan
// that fails the accuracy check is rebuilt without it (BuildOptions).
std::optional<dnnl::convolution_forward::primitive_desc> WinogradIfFaster(
    BuildContext& ctx, const ConvAttrs& conv, const dnnl::primitive_attr& attr,
    const memory::desc& bias_md, const memory::desc& input_md, const Dims& src_dims,
    const Dims& dst_dims,
    const dnnl::convolution_forward::primitive_desc& direct,
    const std::vector<std::pair<int, int>>& extra) {
  const Dims& w = conv.weight.dims;
  const bool eligible = ctx.winograd_allowed() && ctx.compute_type() == dt::f32 &&
                        conv.groups == 1 && w.size() == 4 && w[2] == 3 && w[3] == 3 &&
                        conv.strides == Dims{1, 1} && conv.dilation == Dims{1, 1};
  if (!eligible) return std::nullopt;
  try {
    dnnl::convolution_forward::desc desc(
        dnnl::prop_kind::forward_inference, dnnl::algorithm::convolution_winograd,
        AnyDesc(src_dims, dt::f32), AnyWeightDesc(UserWeightDesc(conv, false), dt::f32), bias_md,
        AnyDesc(dst_dims, dt::f32), ToDnnl(conv.strides), MinusOne(conv.dilation),
        ToDnnl(conv.padding_l), ToDnnl(conv.padding_r));
    dnnl::convolution_forward::primitive_desc winograd(desc, attr, ctx.engine());
    if (!ctx.winograd_when_faster() ||
        MeasuresFaster(Sequence({ReorderCandidate(input_md, winograd.src_desc(), ctx.engine()),
                                 PrimitiveCandidate(dnnl::convolution_forward(winograd),
                                                    TimingArgs(ctx, winograd, extra),
                                                    ctx.engine()),
                                 ReorderCandidate(winograd.dst_desc(), direct.dst_desc(),
                                                  ctx.engine())}),
                       DirectCandidate(ctx, input_md, direct, extra), 0.9)) {
      return winograd;
    }
  } catch (const dnnl::error&) {
    // no Winograd implementation for these sizes, post-ops or this CPU
  }
  return std::nullopt;
}

}  // namespace

absl::StatusOr<int> EmitConvolution(BuildContext& ctx, const ConvAttrs& conv,
                                    const std::vector<PostOp>& post_ops, int src_value,
                                    const Dims& dst_dims, const std::string& what,
                                    int weight_value) {
  const Dims& src_dims = ctx.graph().values[src_value].dims;
  const dt type = ctx.compute_type();
  const memory::desc user_weights = UserWeightDesc(conv, false);
  dnnl::primitive_attr attr;
  std::vector<std::pair<int, int>> extra;
  if (auto s = ctx.MakeAttr(post_ops, static_cast<int>(dst_dims.size()), &attr, &extra);
      !s.ok()) {
    return s;
  }
  const memory::desc bias_md =
      conv.has_bias ? memory::desc({dst_dims[1]}, dt::f32, tag::a) : memory::desc();
  auto make_pd = [&](const memory::desc& src_md, const memory::desc& dst_md) {
    dnnl::convolution_forward::desc desc(
        dnnl::prop_kind::forward_inference, dnnl::algorithm::convolution_direct, src_md,
        AnyWeightDesc(user_weights, type), bias_md, dst_md, ToDnnl(conv.strides),
        MinusOne(conv.dilation), ToDnnl(conv.padding_l), ToDnnl(conv.padding_r));
    return dnnl::convolution_forward::primitive_desc(desc, attr, ctx.engine());
  };
  // Keep the channels-last layout the previous convolution chose when an
  // optimized implementation takes it: left to "any", grouped convolutions
  // pick their own blocking and cost two reorders each.
  std::optional<dnnl::convolution_forward::primitive_desc> direct;
  const memory::desc& input_md = ctx.slot(ctx.ValueSlot(src_value)).md;
  if (IsChannelsLast(input_md) && src_dims.size() == 4) {
    try {
      auto pd = make_pd(memory::desc(ToDnnl(src_dims), type, tag::acdb),
                        memory::desc(ToDnnl(dst_dims), type, tag::acdb));
      if (std::string(pd.impl_info_str()).find("ref") == std::string::npos) direct = pd;
    } catch (const dnnl::error&) {
      // no implementation for that layout: let oneDNN choose
    }
  }
  if (!direct) direct = make_pd(AnyDesc(src_dims, type), AnyDesc(dst_dims, type));
  if (weight_value < 0 && type == dt::bf16) {
    if (std::optional<int> dst = EmitWinogradBf16Convolution(
            ctx, conv, post_ops, src_value, dst_dims,
            [&] { return DirectCandidate(ctx, input_md, *direct, extra); })) {
      return *dst;
    }
  }
  if (weight_value < 0) {
    if (auto winograd = WinogradIfFaster(ctx, conv, attr, bias_md, input_md, src_dims,
                                         dst_dims, *direct, extra)) {
      ctx.CountWinogradConvolution();
      return FinishConvLike<dnnl::convolution_forward>(ctx, conv, post_ops, src_value, -1,
                                                       dst_dims, *winograd, user_weights,
                                                       std::move(extra), what + " (Winograd)");
    }
  }
  return FinishConvLike<dnnl::convolution_forward>(ctx, conv, post_ops, src_value, weight_value,
                                                   dst_dims, *direct, user_weights,
                                                   std::move(extra), what);
}

absl::Status LowerConv(BuildContext& ctx, const Node& node) {
  const int weight_value = node.conv.weight_is_input ? node.inputs[1] : -1;
  auto dst = EmitConvolution(ctx, node.conv, node.post_ops, node.inputs[0],
                             ctx.graph().values[node.output].dims,
                             weight_value >= 0 ? "conv (weights computed at run time)" : "conv",
                             weight_value);
  if (!dst.ok()) return dst.status();
  ctx.SetValueSlot(node.output, *dst);
  return absl::OkStatus();
}

absl::Status LowerDeconv(BuildContext& ctx, const Node& node) {
  if (absl::Status s = LowerDeconvAsSubPixel(ctx, node); !absl::IsUnimplemented(s)) return s;
  const Graph& g = ctx.graph();
  const Dims& src_dims = g.values[node.inputs[0]].dims;
  const Dims& dst_dims = g.values[node.output].dims;
  const dt type = ctx.compute_type();
  const memory::desc user_weights = UserWeightDesc(node.conv, true);
  dnnl::primitive_attr attr;
  std::vector<std::pair<int, int>> extra;
  if (auto s = ctx.MakeAttr(node.post_ops, static_cast<int>(dst_dims.size()), &attr, &extra);
      !s.ok()) {
    return s;
  }
  // PyTorch's output_padding adds rows at the high end: less right padding.
  memory::dims padding_r;
  for (size_t i = 0; i < node.conv.padding_r.size(); ++i) {
    const int64_t extra_rows =
        i < node.conv.output_padding.size() ? node.conv.output_padding[i] : 0;
    padding_r.push_back(node.conv.padding_r[i] - extra_rows);
    if (padding_r.back() < 0) {
      return absl::UnimplementedError("output_padding larger than padding");
    }
  }
  const memory::desc bias_md = node.conv.has_bias
                                   ? memory::desc({dst_dims[1]}, dt::f32, tag::a)
                                   : memory::desc();
  dnnl::deconvolution_forward::desc desc(
      dnnl::prop_kind::forward_inference, dnnl::algorithm::deconvolution_direct,
      AnyDesc(src_dims, type), AnyWeightDesc(user_weights, type), bias_md,
      AnyDesc(dst_dims, type), ToDnnl(node.conv.strides), MinusOne(node.conv.dilation),
      ToDnnl(node.conv.padding_l), padding_r);
  dnnl::deconvolution_forward::primitive_desc pd(desc, attr, ctx.engine());
  ctx.SetValueSlot(node.output, FinishConvLike<dnnl::deconvolution_forward>(
                                    ctx, node.conv, node.post_ops, node.inputs[0], -1, dst_dims,
                                    pd, user_weights, std::move(extra), "deconv"));
  return absl::OkStatus();
}

absl::Status LowerLinear(BuildContext& ctx, const Node& node) {
  // y = x W^T + b over the last dim, as a 2-D matmul over the flattened rows.
  const Graph& g = ctx.graph();
  const Dims& src_dims = g.values[node.inputs[0]].dims;
  const Dims& w = node.conv.weight.dims;  // (O, K)
  int64_t rows = 1;
  for (size_t i = 0; i + 1 < src_dims.size(); ++i) rows *= src_dims[i];
  const int64_t k = w[1], o = w[0];
  const dt type = ctx.compute_type();
  dnnl::primitive_attr attr;
  std::vector<std::pair<int, int>> extra;
  if (auto s = ctx.MakeAttr(node.post_ops, 2, &attr, &extra); !s.ok()) return s;
  // W^T read through strides from PyTorch's (O, K) row-major weight.
  const memory::desc user_weights({k, o}, dt::f32, memory::dims{1, k});
  const memory::desc bias_md =
      node.conv.has_bias ? memory::desc({1, o}, dt::f32, tag::ab) : memory::desc();
  dnnl::matmul::desc desc(memory::desc({rows, k}, type, tag::ab),
                          memory::desc({k, o}, type, tag::any), bias_md,
                          memory::desc({rows, o}, type, tag::ab));
  dnnl::matmul::primitive_desc pd(desc, attr, ctx.engine());
  // Rows are contiguous in the plain layout, so a flattened view suffices.
  const int plain = ctx.PlainSlot(node.inputs[0], type);
  const int src = ctx.AliasSlot(plain, pd.src_desc());
  const int weights =
      ctx.AddConstantSlot(ctx.Prepack(node.conv.weight, user_weights, pd.weights_desc()));
  std::vector<std::pair<int, int>> args = {{DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, weights}};
  if (node.conv.has_bias) {
    Constant bias = node.conv.bias;
    const int b = ctx.AddConstantSlot(
        ctx.Prepack(bias, memory::desc({1, o}, dt::f32, tag::ab), pd.bias_desc()));
    args.push_back({DNNL_ARG_BIAS, b});
  }
  const memory::desc out_md = PlainDesc(g.values[node.output].dims, type);
  int sum_operand = -1;
  const int dst = HasSum(node.post_ops, &sum_operand) ? ctx.SumDestination(sum_operand, out_md)
                                             : ctx.NewArenaSlot(out_md);
  args.push_back({DNNL_ARG_DST, ctx.AliasSlot(dst, pd.dst_desc())});
  args.insert(args.end(), extra.begin(), extra.end());
  ctx.NoteScratchpad(pd.scratchpad_desc());
  ctx.AddStep(dnnl::matmul(pd), std::move(args),
              absl::StrCat("linear ", rows, "x", k, "->", o, PostOpText(node.post_ops)));
  ctx.SetValueSlot(node.output, dst);
  return absl::OkStatus();
}

absl::Status LowerMatmul(BuildContext& ctx, const Node& node) {
  const Graph& g = ctx.graph();
  Dims a = g.values[node.inputs[0]].dims;
  Dims b = g.values[node.inputs[1]].dims;
  const Dims& out = g.values[node.output].dims;
  if (a.size() < 2 || b.size() < 2) return absl::UnimplementedError("matmul of vectors");
  const size_t rank = out.size();
  while (a.size() < rank) a.insert(a.begin(), 1);
  while (b.size() < rank) b.insert(b.begin(), 1);
  const dt type = ctx.compute_type();
  dnnl::primitive_attr attr;
  std::vector<std::pair<int, int>> extra;
  if (auto s = ctx.MakeAttr(node.post_ops, static_cast<int>(rank), &attr, &extra); !s.ok()) {
    return s;
  }
  dnnl::matmul::desc desc(PlainDesc(a, type), PlainDesc(b, type), PlainDesc(out, type));
  dnnl::matmul::primitive_desc pd(desc, attr, ctx.engine());
  const int src = ctx.AliasSlot(ctx.PlainSlot(node.inputs[0], type), PlainDesc(a, type));
  const int weights = ctx.AliasSlot(ctx.PlainSlot(node.inputs[1], type), PlainDesc(b, type));
  int sum_operand = -1;
  const int dst = HasSum(node.post_ops, &sum_operand)
                      ? ctx.SumDestination(sum_operand, PlainDesc(out, type))
                      : ctx.NewArenaSlot(PlainDesc(out, type));
  std::vector<std::pair<int, int>> args = {
      {DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, weights}, {DNNL_ARG_DST, dst}};
  args.insert(args.end(), extra.begin(), extra.end());
  ctx.NoteScratchpad(pd.scratchpad_desc());
  ctx.AddStep(dnnl::matmul(pd), std::move(args),
              absl::StrCat("matmul ", absl::StrJoin(out, "x"), PostOpText(node.post_ops)));
  ctx.SetValueSlot(node.output, dst);
  return absl::OkStatus();
}

}  // namespace kiln::engine::plan::internal

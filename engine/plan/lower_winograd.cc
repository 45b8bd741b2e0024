// Winograd F(2,3) convolutions in bf16 plans, on Kiln's transforms
// (kernels/cpu/winograd_f23.h) around one batched oneDNN matmul: oneDNN 2.6
// has Winograd for fp32 only, and a bf16 plan's 3x3 convolutions already run
// at its direct convolution's peak, so fewer multiplications is what is left.
// Chosen per convolution when it measures faster at build time.
#include <memory>
#include <optional>

#include "absl/strings/str_cat.h"
#include "engine/plan/build_context.h"
#include "engine/plan/primitive_timer.h"
#include "kernels/cpu/winograd_f23.h"

namespace kiln::engine::plan::internal {
namespace {

using dt = memory::data_type;
using tag = memory::format_tag;
using kernels::cpu::ElementType;
using kernels::cpu::Winograd23Shape;
constexpr int64_t kPoints = kernels::cpu::kWinograd23Points;

bool IsPlainRelu(const PostOp& p) {
  return p.kind == PostOp::Kind::kUnary && p.unary.function == Unary::kRelu &&
         p.unary.alpha == 0;
}

// The output transform adds the bias, then a residual (a sum post-op, whose
// operand value goes to `*sum_operand`), then applies a plain relu; any other
// post-op keeps the direct convolution.
bool OutputTransformTakes(const std::vector<PostOp>& post_ops,
                          kernels::cpu::Winograd23Epilogue* e, int* sum_operand) {
  size_t i = 0;
  if (i < post_ops.size() && post_ops[i].kind == PostOp::Kind::kSum) {
    e->add_destination = true;
    *sum_operand = post_ops[i++].operand;
  }
  if (i < post_ops.size() && IsPlainRelu(post_ops[i])) {
    e->relu = true;
    ++i;
  }
  return i == post_ops.size();
}

void* Data(const std::unordered_map<int, dnnl::memory>& args, int arg) {
  return args.at(arg).get_data_handle();
}

}  // namespace

std::optional<int> EmitWinogradBf16Convolution(
    BuildContext& ctx, const ConvAttrs& conv, const std::vector<PostOp>& post_ops,
    int src_value, const Dims& dst_dims, const dnnl::primitive& direct,
    const std::vector<std::pair<int, memory::desc>>& direct_args) {
  const Dims& w = conv.weight.dims;
  const Dims& src_dims = ctx.graph().values[src_value].dims;
  kernels::cpu::Winograd23Epilogue epilogue;  // bias set below
  int sum_operand = -1;
  const bool eligible =
      ctx.winograd_allowed() && ctx.compute_type() == dt::bf16 && conv.groups == 1 &&
      !conv.weight_is_input && w.size() == 4 && w[2] == 3 && w[3] == 3 &&
      conv.strides == Dims{1, 1} && conv.dilation == Dims{1, 1} && conv.padding_l[0] >= 0 &&
      conv.padding_l[1] >= 0 && conv.padding_l[0] <= 2 && conv.padding_l[1] <= 2 &&
      OutputTransformTakes(post_ops, &epilogue, &sum_operand);
  if (!eligible) return std::nullopt;
  Winograd23Shape s;
  s.batch = src_dims[0];
  s.channels = src_dims[1];
  s.height = src_dims[2];
  s.width = src_dims[3];
  s.outputs = dst_dims[1];
  s.out_height = dst_dims[2];
  s.out_width = dst_dims[3];
  s.pad_top = conv.padding_l[0];
  s.pad_left = conv.padding_l[1];
  const int64_t tiles = s.tiles();
  const memory::desc v_md({kPoints, tiles, s.channels}, dt::bf16, tag::abc);
  const memory::desc m_md({kPoints, tiles, s.outputs}, dt::f32, tag::abc);
  const memory::desc src_md = ChannelsLastDesc(src_dims, dt::bf16);
  const memory::desc dst_md = ChannelsLastDesc(dst_dims, dt::bf16);
  dnnl::primitive_attr attr;
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  std::optional<dnnl::matmul::primitive_desc> pd;
  try {
    dnnl::matmul::desc desc(v_md, memory::desc({kPoints, s.channels, s.outputs}, dt::bf16, tag::any),
                            m_md);
    pd.emplace(desc, attr, ctx.engine());
  } catch (const dnnl::error&) {
    return std::nullopt;  // no bf16 matmul on this CPU
  }
  std::shared_ptr<const std::vector<float>> bias;
  if (conv.has_bias) {
    bias = std::make_shared<const std::vector<float>>(conv.bias.data, conv.bias.data + s.outputs);
  }
  epilogue.bias = bias ? bias->data() : nullptr;

  // The three steps against the direct convolution, on made-up data. The
  // margin covers what the timing leaves out (a reorder into channels last
  // where the input is blocked, weights coming from memory) and noise.
  if (ctx.winograd_when_faster()) {
    dnnl::memory src = ScratchMemory(src_md, ctx.engine()), v = ScratchMemory(v_md, ctx.engine()),
                 m = ScratchMemory(m_md, ctx.engine()), dst = ScratchMemory(dst_md, ctx.engine()),
                 u = ScratchMemory(pd->weights_desc(), ctx.engine()),
                 scratchpad = ScratchMemory(pd->scratchpad_desc(), ctx.engine());
    const dnnl::matmul products(*pd);
    dnnl::stream stream(ctx.engine());
    auto winograd = [&] {
      kernels::cpu::Winograd23Input(src.get_data_handle(), ElementType::kBF16, s,
                                    v.get_data_handle(), ElementType::kBF16);
      products.execute(stream, {{DNNL_ARG_SRC, v},
                                {DNNL_ARG_WEIGHTS, u},
                                {DNNL_ARG_DST, m},
                                {DNNL_ARG_SCRATCHPAD, scratchpad}});
      stream.wait();
      kernels::cpu::Winograd23Output(static_cast<const float*>(m.get_data_handle()), s,
                                     epilogue, dst.get_data_handle(), ElementType::kBF16);
    };
    if (!MeasuresFaster(winograd, PrimitiveCandidate(direct, direct_args, ctx.engine()), 0.9)) {
      return std::nullopt;
    }
  }

  std::vector<float> u(kPoints * s.channels * s.outputs);
  kernels::cpu::Winograd23Weights(conv.weight.data, s.outputs, s.channels, u.data());
  const Dims u_dims = {kPoints, s.channels, s.outputs};
  const int weights = ctx.AddConstantSlot(ctx.Prepack(Constant::Own(u_dims, std::move(u)),
                                                      PlainDesc(u_dims, dt::f32),
                                                      pd->weights_desc()));
  const int src = ctx.SlotAs(src_value, src_md);
  const int v = ctx.NewArenaSlot(v_md);
  ctx.AddKernelStep(
      [s](const std::unordered_map<int, dnnl::memory>& args) {
        kernels::cpu::Winograd23Input(Data(args, DNNL_ARG_SRC), ElementType::kBF16, s,
                                      Data(args, DNNL_ARG_DST), ElementType::kBF16);
      },
      {{DNNL_ARG_SRC, src}, {DNNL_ARG_DST, v}},
      absl::StrCat("Winograd F(2,3) input transform (Kiln kernel) ", tiles, " tiles x ",
                   s.channels));
  const int m = ctx.NewArenaSlot(m_md);
  ctx.NoteScratchpad(pd->scratchpad_desc());
  ctx.AddStep(dnnl::matmul(*pd), {{DNNL_ARG_SRC, v}, {DNNL_ARG_WEIGHTS, weights}, {DNNL_ARG_DST, m}},
              absl::StrCat("Winograd products 16x", tiles, "x", s.channels, "->", s.outputs));
  // The bias vector lives as long as the step (the epilogue points into it).
  const int dst = sum_operand >= 0 ? ctx.SumDestination(sum_operand, dst_md)
                                   : ctx.NewArenaSlot(dst_md);
  ctx.AddKernelStep(
      [s, bias, epilogue](const std::unordered_map<int, dnnl::memory>& args) {
        kernels::cpu::Winograd23Output(static_cast<const float*>(Data(args, DNNL_ARG_SRC)), s,
                                       epilogue, Data(args, DNNL_ARG_DST), ElementType::kBF16);
      },
      {{DNNL_ARG_SRC, m}, {DNNL_ARG_DST, dst}},
      absl::StrCat("Winograd F(2,3) output transform (Kiln kernel) ", s.batch, "x", s.outputs,
                   "x", s.out_height, "x", s.out_width, " nhwc:bf16", bias ? " +bias" : "",
                   epilogue.add_destination ? " +sum" : "", epilogue.relu ? " +relu" : ""));
  ctx.CountWinogradConvolution();
  return dst;
}

}  // namespace kiln::engine::plan::internal

// Winograd F(2,3) convolutions in bf16 plans, on Kiln's transforms
// (kernels/cpu/winograd_f23.h) around batched oneDNN matmuls, a run of tiles
// at a time (so that the transformed tiles stay in cache and a large image
// needs no image-sized buffers): oneDNN 2.6 has Winograd for fp32 only, and a
// bf16 plan's 3x3 convolutions already run at its direct convolution's peak,
// so fewer multiplications is what is left. Chosen per convolution when it
// measures faster at build time.
#include <algorithm>
#include <memory>
#include <optional>
#include <unordered_map>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
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

// The step's buffers for one run of tiles, beside DNNL_ARG_SRC (the input),
// DNNL_ARG_WEIGHTS (U), DNNL_ARG_DST and DNNL_ARG_SCRATCHPAD.
constexpr int kArgV = DNNL_ARG_SRC_1;  // [16][run][channels] bf16
constexpr int kArgM = DNNL_ARG_SRC_2;  // [16][run][outputs] fp32

// Tiles per run: V and M of a run within about 2 MiB (the two cores' L2),
// but at least 64 tiles for the products' efficiency; all tiles at once when
// that is at most one and a half runs.
int64_t TilesPerRun(const Winograd23Shape& s) {
  const int64_t bytes_per_tile = kPoints * (2 * s.channels + 4 * s.outputs);
  const int64_t run = std::max<int64_t>(64, (int64_t{2} << 20) / bytes_per_tile);
  return run * 3 / 2 >= s.tiles() ? s.tiles() : run;
}

// One convolution: per run of tiles, the input transform, the 16 products
// (a oneDNN batched matmul; a second one for a shorter last run) and the
// output transform.
struct WinogradSteps {
  Winograd23Shape shape;
  int64_t run = 0;
  kernels::cpu::Winograd23Epilogue epilogue;
  std::shared_ptr<const std::vector<float>> bias;  // epilogue.bias points into it
  dnnl::engine engine;
  dnnl::matmul products, last_products;
  memory::desc v_md, m_md, last_v_md, last_m_md;

  void Run(const std::unordered_map<int, dnnl::memory>& args) const {
    dnnl::stream stream(engine);
    void* const v = args.at(kArgV).get_data_handle();
    void* const m = args.at(kArgM).get_data_handle();
    const void* const src = args.at(DNNL_ARG_SRC).get_data_handle();
    void* const dst = args.at(DNNL_ARG_DST).get_data_handle();
    const auto scratchpad = args.find(DNNL_ARG_SCRATCHPAD);
    const int64_t tiles = shape.tiles();
    for (int64_t first = 0; first < tiles; first += run) {
      const kernels::cpu::Winograd23Tiles r{first, std::min(run, tiles - first)};
      const bool last = r.count != run;
      kernels::cpu::Winograd23Input(src, ElementType::kBF16, shape, r, v, ElementType::kBF16);
      std::unordered_map<int, dnnl::memory> product_args = {
          {DNNL_ARG_SRC, dnnl::memory(last ? last_v_md : v_md, engine, v)},
          {DNNL_ARG_WEIGHTS, args.at(DNNL_ARG_WEIGHTS)},
          {DNNL_ARG_DST, dnnl::memory(last ? last_m_md : m_md, engine, m)}};
      if (scratchpad != args.end()) product_args.insert(*scratchpad);
      (last ? last_products : products).execute(stream, product_args);
      stream.wait();
      kernels::cpu::Winograd23Output(static_cast<const float*>(m), shape, r, epilogue, dst,
                                     ElementType::kBF16);
    }
  }
};

}  // namespace

std::optional<int> EmitWinogradBf16Convolution(
    BuildContext& ctx, const ConvAttrs& conv, const std::vector<PostOp>& post_ops,
    int src_value, const Dims& dst_dims, const std::function<Candidate()>& make_direct) {
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
  auto steps = std::make_shared<WinogradSteps>();
  steps->shape = s;
  steps->run = TilesPerRun(s);
  steps->engine = ctx.engine();
  const int64_t last_run = s.tiles() % steps->run == 0 ? steps->run : s.tiles() % steps->run;
  steps->v_md = memory::desc({kPoints, steps->run, s.channels}, dt::bf16, tag::abc);
  steps->m_md = memory::desc({kPoints, steps->run, s.outputs}, dt::f32, tag::abc);
  steps->last_v_md = memory::desc({kPoints, last_run, s.channels}, dt::bf16, tag::abc);
  steps->last_m_md = memory::desc({kPoints, last_run, s.outputs}, dt::f32, tag::abc);
  const memory::desc u_md({kPoints, s.channels, s.outputs}, dt::bf16, tag::any);
  const memory::desc src_md = ChannelsLastDesc(src_dims, dt::bf16);
  const memory::desc dst_md = ChannelsLastDesc(dst_dims, dt::bf16);
  dnnl::primitive_attr attr;
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  std::optional<dnnl::matmul::primitive_desc> pd, last_pd;
  try {
    pd.emplace(dnnl::matmul::desc(steps->v_md, u_md, steps->m_md), attr, ctx.engine());
    last_pd.emplace(dnnl::matmul::desc(steps->last_v_md, u_md, steps->last_m_md), attr,
                    ctx.engine());
  } catch (const dnnl::error&) {
    return std::nullopt;  // no bf16 matmul on this CPU
  }
  // Both products must read U in one layout.
  if (pd->weights_desc() != last_pd->weights_desc()) return std::nullopt;
  steps->products = dnnl::matmul(*pd);
  steps->last_products = dnnl::matmul(*last_pd);
  if (conv.has_bias) {
    steps->bias =
        std::make_shared<const std::vector<float>>(conv.bias.data, conv.bias.data + s.outputs);
    epilogue.bias = steps->bias->data();
  }
  steps->epilogue = epilogue;
  const size_t scratchpad_bytes =
      std::max(pd->scratchpad_desc().get_size(), last_pd->scratchpad_desc().get_size());

  // The steps against the direct convolution, on made-up data, each with the
  // reorder its input may need. The margin covers what the timing leaves out
  // (weights coming from memory) and noise.
  if (ctx.winograd_when_faster()) {
    auto scratch = std::make_shared<std::unordered_map<int, dnnl::memory>>();
    for (const auto& [arg, md] : std::vector<std::pair<int, memory::desc>>{
             {DNNL_ARG_SRC, src_md},
             {DNNL_ARG_DST, dst_md},
             {DNNL_ARG_WEIGHTS, pd->weights_desc()},
             {kArgV, steps->v_md},
             {kArgM, steps->m_md},
             {DNNL_ARG_SCRATCHPAD,
              memory::desc({std::max<int64_t>(1, static_cast<int64_t>(scratchpad_bytes))},
                           dt::u8, tag::a)}}) {
      scratch->emplace(arg, ScratchMemory(md, ctx.engine()));
    }
    const memory::desc& input_md = ctx.slot(ctx.ValueSlot(src_value)).md;
    const Candidate winograd =
        Sequence({ReorderCandidate(input_md, src_md, ctx.engine()),
                  [steps, scratch] { steps->Run(*scratch); }});
    if (!MeasuresFaster(winograd, make_direct(), 0.9)) {
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
  const int v = ctx.NewArenaSlot(steps->v_md);
  const int m = ctx.NewArenaSlot(steps->m_md);
  const int dst = sum_operand >= 0 ? ctx.SumDestination(sum_operand, dst_md)
                                   : ctx.NewArenaSlot(dst_md);
  ctx.NoteScratchpad(pd->scratchpad_desc());
  ctx.NoteScratchpad(last_pd->scratchpad_desc());
  ctx.AddKernelStep(
      [steps](const std::unordered_map<int, dnnl::memory>& args) { steps->Run(args); },
      {{DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, weights}, {kArgV, v}, {kArgM, m},
       {DNNL_ARG_DST, dst}},
      absl::StrCat("conv (Winograd F(2,3), Kiln kernels + oneDNN matmul) ",
                   absl::StrJoin(dst_dims, "x"), " nhwc:bf16, ", s.tiles(), " tiles in runs of ",
                   steps->run, steps->bias ? " +bias" : "",
                   epilogue.add_destination ? " +sum" : "", epilogue.relu ? " +relu" : ""));
  ctx.CountWinogradConvolution();
  return dst;
}

}  // namespace kiln::engine::plan::internal

// PReLU on Kiln's own kernel (kernels/cpu/prelu.h): oneDNN 2.6's prelu
// primitive and prelu post-op fall back to slow implementations for the
// blocked bf16 layouts plans use. The kernel works in place of a reorder on
// the layout the value already has (blocked nChw16c/8c/4c, channels last or
// channels first); any other layout is first reordered to channels last.
#include <memory>

#include "absl/strings/str_cat.h"
#include "engine/plan/build_context.h"
#include "kernels/cpu/prelu.h"

namespace kiln::engine::plan::internal {
namespace {

using dt = memory::data_type;
using tag = memory::format_tag;
using kernels::cpu::PreluShape;

// Blocked-by-channel tags for 3-, 4- and 5-dim tensors, per block size.
tag BlockedTag(size_t rank, int64_t block) {
  switch (rank) {
    case 3: return block == 16 ? tag::aBc16b : block == 8 ? tag::aBc8b : tag::aBc4b;
    case 4: return block == 16 ? tag::aBcd16b : block == 8 ? tag::aBcd8b : tag::aBcd4b;
    case 5: return block == 16 ? tag::aBcde16b : block == 8 ? tag::aBcde8b : tag::aBcde4b;
    default: return tag::undef;
  }
}

// The kernel's view of `md` (dims `dims`), when it is one of the layouts it
// takes.
bool KernelView(const memory::desc& md, const Dims& dims, PreluShape* shape) {
  if (dims.size() < 2) return false;
  int64_t spatial = 1;
  for (size_t i = 2; i < dims.size(); ++i) spatial *= dims[i];
  const int64_t n = dims[0], c = dims[1];
  if (md == PlainDesc(dims, md.data_type())) {
    *shape = {n, c, spatial, 1};
    return true;
  }
  if (md == ChannelsLastDesc(dims, md.data_type())) {
    *shape = {n * spatial, 1, 1, c};
    return true;
  }
  for (int64_t block : {16, 8, 4}) {
    const tag t = BlockedTag(dims.size(), block);
    if (t != tag::undef && md == memory::desc(ToDnnl(dims), md.data_type(), t)) {
      *shape = {n, (c + block - 1) / block, spatial, block};
      return true;
    }
  }
  return false;
}

}  // namespace

absl::Status LowerPrelu(BuildContext& ctx, const Node& node) {
  const Dims& dims = ctx.graph().values[node.inputs[0]].dims;
  if (dims.size() < 2) return absl::UnimplementedError("prelu of a vector");
  const int64_t channels = dims[1];
  if (node.scale.elements() != 1 && node.scale.elements() != channels) {
    return absl::UnimplementedError("prelu slopes neither 1 nor one per channel");
  }
  int src = ctx.ValueSlot(node.inputs[0]);
  PreluShape shape;
  if (!KernelView(ctx.slot(src).md, dims, &shape)) {
    const int dense = ctx.NewArenaSlot(ChannelsLastDesc(dims, ctx.slot(src).md.data_type()));
    ctx.Reorder(src, dense, "prelu input to channels-last");
    src = dense;
    KernelView(ctx.slot(src).md, dims, &shape);
  }
  const memory::desc md = ctx.slot(src).md;
  // One slope per (group, lane); a blocked layout's padding lanes get 0.
  auto slopes = std::make_shared<std::vector<float>>(shape.groups * shape.lanes, 0.0f);
  for (int64_t g = 0; g < shape.groups; ++g) {
    for (int64_t l = 0; l < shape.lanes; ++l) {
      const int64_t channel = g * shape.lanes + l;
      if (channel >= channels) continue;
      (*slopes)[channel] = node.scale.data[node.scale.elements() == 1 ? 0 : channel];
    }
  }
  const kernels::cpu::ElementType type = md.data_type() == dt::bf16
                                             ? kernels::cpu::ElementType::kBF16
                                             : kernels::cpu::ElementType::kF32;
  if (md.data_type() != dt::bf16 && md.data_type() != dt::f32) {
    return absl::UnimplementedError("prelu on a type other than f32 or bf16");
  }
  const int dst = ctx.NewArenaSlot(md);
  ctx.AddKernelStep(
      [shape, slopes, type](const std::unordered_map<int, dnnl::memory>& args) {
        kernels::cpu::Prelu(args.at(DNNL_ARG_SRC).get_data_handle(),
                            args.at(DNNL_ARG_DST).get_data_handle(), type, shape, slopes->data());
      },
      {{DNNL_ARG_SRC, src}, {DNNL_ARG_DST, dst}},
      absl::StrCat("prelu (Kiln kernel) ", LayoutName(md)));
  ctx.SetValueSlot(node.output, dst);
  return absl::OkStatus();
}

}  // namespace kiln::engine::plan::internal

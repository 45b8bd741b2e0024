// Lowerings of elementwise nodes. They run in whatever layout their input
// already has, so a chain of them between convolutions costs no reorder.
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "engine/plan/build_context.h"

namespace kiln::engine::plan::internal {
namespace {
using dt = memory::data_type;
}  // namespace

absl::Status LowerEltwise(BuildContext& ctx, const Node& node) {
  const int src = ctx.ValueSlot(node.inputs[0]);
  const memory::desc md = ctx.slot(src).md;
  const int dst = ctx.NewArenaSlot(md);
  int from = src;
  for (const EltwiseStage& stage : EltwiseStages(node.unary)) {
    dnnl::eltwise_forward::desc desc(dnnl::prop_kind::forward_inference, stage.algorithm,
                                     md, stage.alpha, stage.beta);
    dnnl::primitive_attr attr;
    attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
    dnnl::eltwise_forward::primitive_desc pd(desc, attr, ctx.engine());
    ctx.NoteScratchpad(pd.scratchpad_desc());
    ctx.AddStep(dnnl::eltwise_forward(pd), {{DNNL_ARG_SRC, from}, {DNNL_ARG_DST, dst}},
                absl::StrCat("eltwise ", UnaryName(node.unary.function), " ",
                             LayoutName(md)));
    from = dst;  // later stages run in place
  }
  ctx.SetValueSlot(node.output, dst);
  return absl::OkStatus();
}

absl::Status LowerBinary(BuildContext& ctx, const Node& node) {
  const Graph& g = ctx.graph();
  const Dims& out = g.values[node.output].dims;
  int lhs = node.inputs[0], rhs = node.inputs[1];
  // oneDNN broadcasts the second source only; commutative functions may swap.
  if (g.values[lhs].dims != out) {
    const bool commutative = node.binary == BinaryFn::kAdd || node.binary == BinaryFn::kMul ||
                             node.binary == BinaryFn::kMax || node.binary == BinaryFn::kMin;
    if (!commutative || g.values[rhs].dims != out) {
      return absl::UnimplementedError("binary op broadcasting its first operand");
    }
    std::swap(lhs, rhs);
  }
  const int src0 = ctx.ValueSlot(lhs);
  const memory::desc md0 = ctx.slot(src0).md;
  int src1;
  if (g.values[rhs].dims == out) {
    src1 = ctx.SlotAs(rhs, md0);
  } else {
    Dims padded = g.values[rhs].dims;
    if (padded.size() > out.size()) return absl::UnimplementedError("binary operand rank");
    padded.insert(padded.begin(), out.size() - padded.size(), 1);
    src1 = ctx.AliasSlot(ctx.PlainSlot(rhs, dt::f32), PlainDesc(padded, dt::f32));
  }
  dnnl::primitive_attr attr;
  std::vector<std::pair<int, int>> extra;
  if (auto s = ctx.MakeAttr(node.post_ops, static_cast<int>(out.size()), &attr, &extra);
      !s.ok()) {
    return s;
  }
  for (const PostOp& p : node.post_ops) {
    if (p.kind == PostOp::Kind::kSum) return absl::UnimplementedError("sum after binary");
  }
  dnnl::binary::desc desc(BinaryAlgorithm(node.binary), md0, ctx.slot(src1).md, md0);
  dnnl::binary::primitive_desc pd(desc, attr, ctx.engine());
  const int dst = ctx.NewArenaSlot(md0);
  std::vector<std::pair<int, int>> args = {
      {DNNL_ARG_SRC_0, src0}, {DNNL_ARG_SRC_1, src1}, {DNNL_ARG_DST, dst}};
  args.insert(args.end(), extra.begin(), extra.end());
  ctx.NoteScratchpad(pd.scratchpad_desc());
  ctx.AddStep(dnnl::binary(pd), std::move(args),
              absl::StrCat("binary ", BinaryName(node.binary), " ", absl::StrJoin(out, "x"),
                           " ", LayoutName(md0)));
  ctx.SetValueSlot(node.output, dst);
  return absl::OkStatus();
}

}  // namespace kiln::engine::plan::internal

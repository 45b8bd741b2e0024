// Transposed convolution lowered as a stride-1 convolution (oneDNN's fast
// forward kernels), one strided reorder interleaving the phases (depth to
// space) and, where the padding is not a multiple of the stride, a crop.
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "engine/plan/build_context.h"
#include "engine/plan/subpixel_deconv.h"

namespace kiln::engine::plan::internal {

absl::Status LowerDeconvAsSubPixel(BuildContext& ctx, const Node& node) {
  for (const PostOp& p : node.post_ops) {
    // Unary post-ops commute with the shuffle and crop; residual and binary
    // operands are laid out like the deconvolution's output, not the phases.
    if (p.kind != PostOp::Kind::kUnary) return absl::UnimplementedError("non-unary post-op");
  }
  const Graph& g = ctx.graph();
  const Dims& dst_dims = g.values[node.output].dims;
  absl::StatusOr<SubPixelDeconv> form =
      MakeSubPixelDeconv(node.conv, g.values[node.inputs[0]].dims, dst_dims);
  if (!form.ok()) return form.status();
  absl::StatusOr<int> conv = EmitConvolution(ctx, form->conv, node.post_ops, node.inputs[0],
                                             form->conv_output, "deconv as conv");
  if (!conv.ok()) return absl::InternalError(conv.status().message());
  const bool shuffle = Product(form->factors) > 1;
  if (!shuffle && !form->needs_crop) {
    ctx.SetValueSlot(node.output, *conv);
    return absl::OkStatus();
  }
  int phases = *conv;
  memory::desc phases_md = ctx.slot(phases).md;
  const memory::data_type type = phases_md.data_type();
  if (phases_md.data.format_desc.blocking.inner_nblks > 0) {
    const int dense = ctx.NewArenaSlot(ChannelsLastDesc(form->conv_output, type));
    ctx.Reorder(phases, dense, "deconv phases to channels-last");
    phases = dense;
    phases_md = ctx.slot(phases).md;
  }
  int full = phases;
  if (shuffle) {
    // (N, G*S*O/g, A...) read as (N, G, O/g, A1, s1, A2, s2, ...), written
    // into (N, O, A1*s1, ...) channels-last: runs of O/g contiguous values.
    const auto& src_strides = phases_md.data.format_desc.blocking.strides;
    const size_t spatial = form->factors.size();
    const int64_t groups = node.conv.groups, per_group = form->shuffled[1] / groups;
    const int64_t phase_count = Product(form->factors);
    const memory::desc shuffled_md = ChannelsLastDesc(form->shuffled, type);
    const auto& dst_strides = shuffled_md.data.format_desc.blocking.strides;
    memory::dims view_dims = {form->shuffled[0], groups, per_group};
    memory::dims read = {src_strides[0], src_strides[1] * phase_count * per_group, src_strides[1]};
    memory::dims write = {dst_strides[0], dst_strides[1] * per_group, dst_strides[1]};
    int64_t phase_stride = src_strides[1] * per_group * phase_count;
    for (size_t i = 0; i < spatial; ++i) {
      phase_stride /= form->factors[i];
      view_dims.push_back(form->conv_output[2 + i]);
      view_dims.push_back(form->factors[i]);
      read.push_back(src_strides[2 + i]);
      read.push_back(phase_stride);
      write.push_back(dst_strides[2 + i] * form->factors[i]);
      write.push_back(dst_strides[2 + i]);
    }
    const int target = form->needs_crop ? ctx.NewArenaSlot(shuffled_md)
                                        : ctx.NewArenaSlot(ChannelsLastDesc(dst_dims, type));
    ctx.Reorder(ctx.AliasSlot(phases, memory::desc(view_dims, type, read)),
                ctx.AliasSlot(target, memory::desc(view_dims, type, write)),
                absl::StrCat("depth to space ", absl::StrJoin(form->factors, "x")));
    full = target;
  }
  int out = full;
  if (form->needs_crop) {
    memory::dims offsets = {0, 0};
    offsets.insert(offsets.end(), form->crop_offset.begin(), form->crop_offset.end());
    const memory::desc window = ctx.slot(full).md.submemory_desc(ToDnnl(dst_dims), offsets);
    out = ctx.NewArenaSlot(ChannelsLastDesc(dst_dims, type));
    ctx.Reorder(ctx.AliasSlot(full, window), out,
                absl::StrCat("crop at ", absl::StrJoin(form->crop_offset, ",")));
  }
  ctx.SetValueSlot(node.output, out);
  return absl::OkStatus();
}

}  // namespace kiln::engine::plan::internal

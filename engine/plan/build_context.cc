#include "engine/plan/build_context.h"

#include <algorithm>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace kiln::engine::plan::internal {

memory::dims ToDnnl(const Dims& dims) { return memory::dims(dims.begin(), dims.end()); }

memory::desc PlainDesc(const Dims& dims, memory::data_type type) {
  memory::dims strides(dims.size(), 1);
  for (int i = static_cast<int>(dims.size()) - 2; i >= 0; --i) {
    strides[i] = strides[i + 1] * std::max<int64_t>(dims[i + 1], 1);
  }
  return memory::desc(ToDnnl(dims), type, strides);
}

memory::desc ChannelsLastDesc(const Dims& dims, memory::data_type type) {
  memory::dims strides(dims.size());
  int64_t step = dims[1];
  strides[1] = 1;
  for (int i = static_cast<int>(dims.size()) - 1; i >= 2; --i) {
    strides[i] = step;
    step *= dims[i];
  }
  strides[0] = step;
  return memory::desc(ToDnnl(dims), type, strides);
}

std::string LayoutName(const memory::desc& md) {
  const dnnl_memory_desc_t& d = md.data;
  if (d.format_kind != dnnl_blocked) return "any";
  const auto& blocking = d.format_desc.blocking;
  std::vector<int> order(d.ndims);
  for (int i = 0; i < d.ndims; ++i) order[i] = i;
  // Outer dims from the largest stride to the smallest, as oneDNN names them.
  std::stable_sort(order.begin(), order.end(), [&](int a, int b) {
    return blocking.strides[a] > blocking.strides[b];
  });
  std::string name;
  for (int dim : order) {
    bool blocked = false;
    for (int b = 0; b < blocking.inner_nblks; ++b) blocked |= blocking.inner_idxs[b] == dim;
    name += static_cast<char>((blocked ? 'A' : 'a') + dim);
  }
  for (int b = 0; b < blocking.inner_nblks; ++b) {
    absl::StrAppend(&name, blocking.inner_blks[b],
                    std::string(1, static_cast<char>('a' + blocking.inner_idxs[b])));
  }
  if (d.data_type == dnnl_bf16) name += ":bf16";
  return name;
}

std::vector<EltwiseStage> EltwiseStages(const UnaryOp& op) {
  using dnnl::algorithm;
  switch (op.function) {
    case Unary::kRelu: return {{algorithm::eltwise_relu, op.alpha, 0}};
    case Unary::kClip: return {{algorithm::eltwise_clip_v2, op.alpha, op.beta}};
    case Unary::kLinear: return {{algorithm::eltwise_linear, op.alpha, op.beta}};
    case Unary::kSigmoid: return {{algorithm::eltwise_logistic, 0, 0}};
    case Unary::kTanh: return {{algorithm::eltwise_tanh, 0, 0}};
    case Unary::kSilu: return {{algorithm::eltwise_swish, 1, 0}};
    case Unary::kHardswish: return {{algorithm::eltwise_hardswish, 0, 0}};
    // hardsigmoid(x) = clip(x / 6 + 1/2, 0, 1); oneDNN 2.6 has no single op.
    case Unary::kHardsigmoid:
      return {{algorithm::eltwise_linear, 1.0f / 6, 0.5f},
              {algorithm::eltwise_clip_v2, 0, 1}};
    case Unary::kGeluErf: return {{algorithm::eltwise_gelu_erf, 0, 0}};
    case Unary::kGeluTanh: return {{algorithm::eltwise_gelu_tanh, 0, 0}};
    case Unary::kElu: return {{algorithm::eltwise_elu, op.alpha, 0}};
    case Unary::kExp: return {{algorithm::eltwise_exp, 0, 0}};
    case Unary::kSqrt: return {{algorithm::eltwise_sqrt, 0, 0}};
    case Unary::kAbs: return {{algorithm::eltwise_abs, 0, 0}};
  }
  return {};
}

dnnl::algorithm BinaryAlgorithm(BinaryFn f) {
  switch (f) {
    case BinaryFn::kAdd: return dnnl::algorithm::binary_add;
    case BinaryFn::kSub: return dnnl::algorithm::binary_sub;
    case BinaryFn::kMul: return dnnl::algorithm::binary_mul;
    case BinaryFn::kDiv: return dnnl::algorithm::binary_div;
    case BinaryFn::kMax: return dnnl::algorithm::binary_max;
    case BinaryFn::kMin: return dnnl::algorithm::binary_min;
  }
  return dnnl::algorithm::binary_add;
}

BuildContext::BuildContext(const Graph& graph, const BuildOptions& options)
    : graph_(graph),
      precision_(options.precision),
      winograd_(options.winograd),
      engine_(dnnl::engine::kind::cpu, 0),
      build_stream_(engine_),
      value_slot_(graph.values.size(), -1),
      last_use_(graph.values.size(), -1) {
  const auto users = graph.Users();
  for (size_t v = 0; v < users.size(); ++v) {
    if (!users[v].empty()) last_use_[v] = users[v].back();
    // Outputs are read after the last node.
    if (graph.IsOutput(static_cast<int>(v))) last_use_[v] = static_cast<int>(graph.nodes.size());
  }
}

memory::data_type BuildContext::compute_type() const {
  return precision_ == PlanPrecision::kBf16 ? memory::data_type::bf16
                                            : memory::data_type::f32;
}

int BuildContext::NewArenaSlot(const memory::desc& md) {
  regions_.push_back(Region{md.get_size()});
  Slot s;
  s.kind = Slot::Kind::kArena;
  s.md = md;
  s.index = static_cast<int>(regions_.size()) - 1;
  slots_.push_back(s);
  return static_cast<int>(slots_.size()) - 1;
}

int BuildContext::AliasSlot(int slot, const memory::desc& md) {
  Slot s = slots_[slot];
  s.md = md;
  slots_.push_back(s);
  return static_cast<int>(slots_.size()) - 1;
}

int BuildContext::AddInputSlot(int input_index, const memory::desc& md) {
  Slot s;
  s.kind = Slot::Kind::kInput;
  s.md = md;
  s.index = input_index;
  slots_.push_back(s);
  return static_cast<int>(slots_.size()) - 1;
}

int BuildContext::AddOutputSlot(int output_index, const memory::desc& md) {
  Slot s;
  s.kind = Slot::Kind::kOutput;
  s.md = md;
  s.index = output_index;
  slots_.push_back(s);
  return static_cast<int>(slots_.size()) - 1;
}

int BuildContext::AddConstantSlot(dnnl::memory constant) {
  Slot s;
  s.kind = Slot::Kind::kConstant;
  s.md = constant.get_desc();
  s.constant = std::move(constant);
  slots_.push_back(s);
  return static_cast<int>(slots_.size()) - 1;
}

int BuildContext::ValueSlot(int value) const { return value_slot_[value]; }

int BuildContext::SlotAs(int value, const memory::desc& md) {
  const int own = value_slot_[value];
  if (slots_[own].md == md) return own;
  for (const auto& [converted_value, slot] : converted_) {
    if (converted_value == value && slots_[slot].md == md) return slot;
  }
  const int slot = NewArenaSlot(md);
  Reorder(own, slot, absl::StrCat("reorder %", value, " ", LayoutName(slots_[own].md),
                                  " -> ", LayoutName(md)));
  converted_.push_back({value, slot});
  return slot;
}

int BuildContext::PlainSlot(int value, memory::data_type type) {
  return SlotAs(value, PlainDesc(graph_.values[value].dims, type));
}

void BuildContext::Reorder(int from_slot, int to_slot, const std::string& label) {
  dnnl::reorder::primitive_desc pd(engine_, slots_[from_slot].md, engine_,
                                   slots_[to_slot].md);
  steps_.push_back(Step{dnnl::reorder(pd), {{DNNL_ARG_FROM, from_slot}, {DNNL_ARG_TO, to_slot}},
                        label, true});
}

void BuildContext::AddStep(dnnl::primitive primitive,
                           std::vector<std::pair<int, int>> args, std::string label) {
  steps_.push_back(Step{std::move(primitive), std::move(args), std::move(label), false, {}});
}

void BuildContext::AddKernelStep(KernelFn kernel, std::vector<std::pair<int, int>> args,
                                 std::string label) {
  steps_.push_back(Step{dnnl::primitive(), std::move(args), std::move(label), false,
                        std::move(kernel)});
}

absl::Status BuildContext::MakeAttr(const std::vector<PostOp>& post_ops, int dst_rank,
                                    dnnl::primitive_attr* attr,
                                    std::vector<std::pair<int, int>>* extra_args) {
  attr->set_scratchpad_mode(dnnl::scratchpad_mode::user);
  dnnl::post_ops ops;
  for (const PostOp& p : post_ops) {
    switch (p.kind) {
      case PostOp::Kind::kUnary:
        for (const EltwiseStage& s : EltwiseStages(p.unary)) {
          ops.append_eltwise(1.0f, s.algorithm, s.alpha, s.beta);
        }
        break;
      case PostOp::Kind::kSum:
        ops.append_sum(1.0f);
        break;
      case PostOp::Kind::kBinary: {
        Dims dims = graph_.values[p.operand].dims;
        if (static_cast<int>(dims.size()) > dst_rank) {
          return absl::UnimplementedError("binary post-op operand has a higher rank");
        }
        Dims padded(dst_rank - dims.size(), 1);
        padded.insert(padded.end(), dims.begin(), dims.end());
        const int index = ops.len();
        ops.append_binary(BinaryAlgorithm(p.binary),
                          PlainDesc(padded, memory::data_type::f32));
        const int plain = PlainSlot(p.operand, memory::data_type::f32);
        const int view = AliasSlot(plain, PlainDesc(padded, memory::data_type::f32));
        extra_args->push_back(
            {DNNL_ARG_ATTR_MULTIPLE_POST_OP(index) | DNNL_ARG_SRC_1, view});
        break;
      }
    }
  }
  attr->set_post_ops(ops);
  return absl::OkStatus();
}

int BuildContext::SumDestination(int operand, const memory::desc& dst_md) {
  const int own = value_slot_[operand];
  const bool reusable = slots_[own].kind == Slot::Kind::kArena &&
                        slots_[own].md == dst_md && last_use_[operand] <= node_index_;
  if (reusable) return own;
  const int dst = NewArenaSlot(dst_md);
  Reorder(own, dst, absl::StrCat("copy %", operand, " for the fused sum"));
  return dst;
}

void BuildContext::NoteScratchpad(const memory::desc& scratchpad_md) {
  scratchpad_bytes_ = std::max(scratchpad_bytes_, scratchpad_md.get_size());
}

dnnl::memory BuildContext::Prepack(const Constant& constant, const memory::desc& user_md,
                                   const memory::desc& target_md) {
  dnnl::memory user(user_md, engine_, const_cast<float*>(constant.data));
  dnnl::memory packed(target_md, engine_);  // owns its buffer
  dnnl::reorder(user, packed).execute(build_stream_, user, packed);
  build_stream_.wait();
  weight_bytes_ += target_md.get_size();
  return packed;
}

}  // namespace kiln::engine::plan::internal

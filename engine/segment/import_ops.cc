// The TorchScript operators Kiln lowers, and how each maps onto the segment
// IR. Anything not here stays with the TorchScript interpreter.
#include <torch/csrc/jit/ir/constants.h>

#include <cmath>
#include <set>

#include "absl/strings/str_cat.h"
#include "engine/segment/import_operands.h"
#include "engine/segment/importer.h"

namespace kiln::engine::segment {
namespace {

using namespace import_operands;  // NOLINT: the operand readers are this file's vocabulary
using plan::Dims;
using plan::OpKind;
using plan::Unary;
using torch::jit::Node;
using torch::jit::Value;

absl::Status Refuse(const std::string& why) { return absl::UnimplementedError(why); }

// The IR node of an op reading its input 0 and producing its one output.
plan::Node& EmitOneToOne(SegmentImporter& im, Node* node, OpKind kind) {
  const int src = im.Input(node->input(0));
  plan::Node& n = im.Emit(kind, node);
  n.inputs = {src};
  n.output = im.Output(node->output());
  return n;
}

absl::Status ImportConv(SegmentImporter& im, Node* node, bool transposed) {
  // conv{1,2}d(input, weight, bias, stride, padding, dilation, groups)
  // conv_transpose{1,2}d(input, weight, bias, stride, padding, output_padding, groups, dilation)
  plan::ConvAttrs conv;
  if (!ConstOrAttribute(im, node->input(1), &conv.weight)) {
    // A weight computed from the inputs (modulated convolution): read at
    // run time, convolutions only.
    const TensorMeta* w = im.Meta(node->input(1));
    if (transposed || w == nullptr || !IsTensor(node->input(1))) {
      return Refuse("weight is computed at run time");
    }
    conv.weight.dims = w->dims;
    conv.weight_is_input = true;
  }
  const size_t spatial = conv.weight.dims.size() - 2;
  if (spatial < 1 || spatial > 2) return Refuse("only 1-d and 2-d convolutions");
  if (!IsNone(node->input(2))) {
    if (!ConstOrAttribute(im, node->input(2), &conv.bias)) return Refuse("bias is computed at run time");
    conv.has_bias = true;
  }
  Dims stride, padding, dilation, output_padding;
  int64_t groups = 1;
  const int groups_index = transposed ? 6 : 6;
  const int dilation_index = transposed ? 7 : 5;
  if (!ConstInts(node->input(3), &stride) || !ConstInts(node->input(dilation_index), &dilation) ||
      !ConstInt(node->input(groups_index), &groups)) {
    return Refuse("stride, dilation and groups must be constants");
  }
  stride = Repeat(stride, spatial);
  dilation = Repeat(dilation, spatial);
  const Dims kernel(conv.weight.dims.begin() + 2, conv.weight.dims.end());
  auto padding_value = Const(node->input(4));
  if (!padding_value) return Refuse("padding must be a constant");
  if (padding_value->isString()) {
    const std::string mode = padding_value->toStringRef();
    for (size_t i = 0; i < spatial; ++i) {
      const int64_t total = mode == "same" ? dilation[i] * (kernel[i] - 1) : 0;
      conv.padding_l.push_back(total / 2);
      conv.padding_r.push_back(total - total / 2);
    }
  } else {
    padding = Repeat(padding_value->toIntVector(), spatial);
    conv.padding_l = padding;
    conv.padding_r = padding;
  }
  if (transposed) {
    if (!ConstInts(node->input(5), &output_padding)) return Refuse("output_padding must be constant");
    conv.output_padding = Repeat(output_padding, spatial);
  }
  conv.strides = stride;
  conv.dilation = dilation;
  conv.groups = groups;
  if (!transposed) {
    // Pad the high side up to what the recorded output size implies (the
    // input may not divide evenly; oneDNN wants the padding exact).
    const TensorMeta* in = im.Meta(node->input(0));
    const TensorMeta* out = im.Meta(node->output());
    for (size_t i = 0; i < spatial; ++i) {
      const int64_t in_size = in->dims[2 + i], out_size = out->dims[2 + i];
      const int64_t span = dilation[i] * (kernel[i] - 1) + 1;
      conv.padding_r[i] = (out_size - 1) * stride[i] + span - in_size - conv.padding_l[i];
    }
  }
  if (Rank(im, node->input(0)) != static_cast<int>(spatial) + 2) {
    return Refuse("unbatched convolution input");
  }
  plan::Node& n = EmitOneToOne(im, node, transposed ? OpKind::kDeconv : OpKind::kConv);
  if (conv.weight_is_input) n.inputs.push_back(im.Input(node->input(1)));
  n.conv = std::move(conv);
  im.CountHeavy();
  return absl::OkStatus();
}

absl::Status ImportUnary(SegmentImporter& im, Node* node, plan::UnaryOp op) {
  plan::Node& n = EmitOneToOne(im, node, OpKind::kEltwise);
  n.unary = op;
  return absl::OkStatus();
}

plan::UnaryOp U(Unary f, float alpha = 0, float beta = 0) { return plan::UnaryOp{f, alpha, beta}; }

absl::Status ImportBinary(SegmentImporter& im, Node* node, plan::BinaryFn fn) {
  // add/sub(self, other, alpha=1), mul/div(self, other)
  if ((fn == plan::BinaryFn::kAdd || fn == plan::BinaryFn::kSub) && node->inputs().size() > 2) {
    double alpha = 0;
    if (!ConstDouble(node->input(2), &alpha) || alpha != 1) return Refuse("alpha other than 1");
  }
  if (node->inputs().size() > 2 && fn == plan::BinaryFn::kDiv) return Refuse("rounding division");
  Value* a = node->input(0);
  Value* b = node->input(1);
  if (IsTensor(a) && IsTensor(b)) {
    const bool a_const = a->node()->kind() == c10::prim::Constant;
    const bool b_const = b->node()->kind() == c10::prim::Constant;
    if (a_const || b_const) return Refuse("constant tensor operand");
    const TensorMeta* out = im.Meta(node->output());
    const TensorMeta* ma = im.Meta(a);
    const TensorMeta* mb = im.Meta(b);
    const bool commutative = fn == plan::BinaryFn::kAdd || fn == plan::BinaryFn::kMul;
    if (ma->dims != out->dims && !(commutative && mb->dims == out->dims)) {
      return Refuse("broadcasting the first operand");
    }
    const int x = im.Input(a), y = im.Input(b);
    plan::Node& n = im.Emit(OpKind::kBinary, node);
    n.inputs = {x, y};
    n.binary = fn;
    n.output = im.Output(node->output());
    return absl::OkStatus();
  }
  double s = 0;
  if (!IsTensor(a) || !ConstDouble(b, &s)) return Refuse("scalar operand is not a constant");
  switch (fn) {
    case plan::BinaryFn::kAdd: return ImportUnary(im, node, U(Unary::kLinear, 1, s));
    case plan::BinaryFn::kSub: return ImportUnary(im, node, U(Unary::kLinear, 1, -s));
    case plan::BinaryFn::kMul: return ImportUnary(im, node, U(Unary::kLinear, s, 0));
    case plan::BinaryFn::kDiv: return ImportUnary(im, node, U(Unary::kLinear, 1 / s, 0));
    default: return Refuse("scalar operand");
  }
}

absl::Status ImportPool(SegmentImporter& im, Node* node, bool max) {
  // max_pool2d(x, kernel, stride, padding, dilation, ceil_mode)
  // avg_pool2d(x, kernel, stride, padding, ceil_mode, count_include_pad, divisor_override)
  if (Rank(im, node->input(0)) != 4) return Refuse("pooling needs a 4-d input");
  plan::PoolAttrs pool;
  pool.max = max;
  Dims padding;
  if (!ConstInts(node->input(1), &pool.kernel) || !ConstInts(node->input(2), &pool.strides) ||
      !ConstInts(node->input(3), &padding)) {
    return Refuse("pooling parameters must be constants");
  }
  pool.kernel = Repeat(pool.kernel, 2);
  pool.strides = pool.strides.empty() ? pool.kernel : Repeat(pool.strides, 2);
  padding = Repeat(padding, 2);
  if (max) {
    if (!ConstInts(node->input(4), &pool.dilation)) return Refuse("dilation must be constant");
    pool.dilation = Repeat(pool.dilation, 2);
  } else {
    bool include = true;
    if (!ConstBool(node->input(5), &include)) return Refuse("count_include_pad must be constant");
    if (!IsNone(node->input(6))) return Refuse("divisor_override");
    pool.count_include_pad = include;
    pool.dilation = {1, 1};
  }
  const TensorMeta* in = im.Meta(node->input(0));
  const TensorMeta* out = im.Meta(node->output());
  pool.padding_l = padding;
  for (int i = 0; i < 2; ++i) {
    const int64_t span = pool.dilation[i] * (pool.kernel[i] - 1) + 1;
    const int64_t pad_r = (out->dims[2 + i] - 1) * pool.strides[i] + span - in->dims[2 + i] - padding[i];
    // ceil_mode windows past the padding average over fewer elements in
    // PyTorch; oneDNN would count them, so only exact cases lower.
    if (!max && pad_r != padding[i] && pool.count_include_pad) return Refuse("ceil_mode average pooling");
    pool.padding_r.push_back(std::max<int64_t>(pad_r, 0));
  }
  plan::Node& n = EmitOneToOne(im, node, OpKind::kPool);
  n.pool = pool;
  im.CountHeavy();
  return absl::OkStatus();
}

// Average over whole windows: adaptive pooling to a divisor of the input
// size, and mean over the spatial dims.
absl::Status ImportGlobalAverage(SegmentImporter& im, Node* node) {
  const TensorMeta* in = im.Meta(node->input(0));
  const TensorMeta* out = im.Meta(node->output());
  if (in->dims.size() != 4) return Refuse("averaging needs a 4-d input");
  Dims out_hw = {out->dims.size() == 4 ? out->dims[2] : 1, out->dims.size() == 4 ? out->dims[3] : 1};
  plan::PoolAttrs pool;
  pool.max = false;
  for (int i = 0; i < 2; ++i) {
    if (in->dims[2 + i] % out_hw[i] != 0) return Refuse("output size does not divide the input");
    pool.kernel.push_back(in->dims[2 + i] / out_hw[i]);
  }
  pool.strides = pool.kernel;
  pool.padding_l = pool.padding_r = {0, 0};
  pool.dilation = {1, 1};
  const int src = im.Input(node->input(0));
  const Dims pooled = {in->dims[0], in->dims[1], out_hw[0], out_hw[1]};
  plan::Node& n = im.Emit(OpKind::kPool, node);
  n.inputs = {src};
  n.pool = pool;
  if (out->dims == pooled) {
    n.output = im.Output(node->output());
  } else {  // mean without keepdim: pool, then drop the unit dims
    n.output = im.graph().AddValue(pooled);
    const int pooled_id = n.output;
    plan::Node& r = im.Emit(OpKind::kReshape, node);
    r.inputs = {pooled_id};
    r.output = im.Output(node->output());
  }
  im.CountHeavy();
  return absl::OkStatus();
}

absl::Status ImportReshape(SegmentImporter& im, Node* node) {
  plan::Node& n = EmitOneToOne(im, node, OpKind::kReshape);
  return absl::OkStatus();
}

absl::Status ImportPermute(SegmentImporter& im, Node* node, std::vector<int> perm) {
  plan::Node& n = EmitOneToOne(im, node, OpKind::kPermute);
  n.permutation = std::move(perm);
  return absl::OkStatus();
}


// In-place ops whose functional form Kiln lowers.
const std::set<std::string>& InPlaceLowerable() {
  static const std::set<std::string> kinds = {
      "aten::relu_", "aten::relu6_", "aten::hardtanh_", "aten::leaky_relu_", "aten::silu_",
      "aten::hardswish_", "aten::hardsigmoid_", "aten::sigmoid_", "aten::tanh_", "aten::elu_",
      "aten::add_", "aten::sub_", "aten::mul_", "aten::div_"};
  return kinds;
}

absl::Status ImportFunctional(SegmentImporter& im, Node* node, const std::string& kind);

}  // namespace

absl::Status ImportNode(SegmentImporter& im, Node* node) {
  std::string kind = node->kind().toQualString();
  if (InPlaceLowerable().count(kind)) {
    // Writing into x is the same as computing a new value when nothing else
    // reads x: its only use is this op, and it is not a graph input.
    // A view shares its base's storage, so writing into it is visible
    // through the base: only fresh tensors qualify.
    static const std::set<std::string> kViews = {
        "aten::view", "aten::reshape", "aten::flatten", "aten::transpose", "aten::permute",
        "aten::squeeze", "aten::unsqueeze", "aten::select", "aten::slice", "aten::narrow",
        "aten::expand", "aten::t", "aten::contiguous", "aten::detach", "aten::as_strided",
        "aten::view_as", "aten::expand_as", "prim::ListUnpack", "prim::TupleUnpack",
        "aten::unbind", "aten::chunk", "aten::split", "aten::__getitem__", "prim::GetAttr"};
    Value* target = node->input(0);
    if (target->uses().size() != 1 || target->node()->kind() == c10::prim::Param ||
        kViews.count(target->node()->kind().toQualString())) {
      return Refuse(absl::StrCat(kind, " writes into a tensor that may be read elsewhere"));
    }
    kind.pop_back();
  }
  return ImportFunctional(im, node, kind);
}

namespace {

// chunk / split / split_with_sizes read by one ListUnpack: one slice per piece.
absl::Status ImportSplit(SegmentImporter& im, Node* node, const std::string& kind) {
  int64_t axis = 0;
  const int dim_index = 2;  // chunk(x, chunks, dim), split(x, size(s), dim)
  if (node->output()->uses().size() != 1 ||
      node->output()->uses()[0].user->kind() != c10::prim::ListUnpack ||
      !ConstInt(node->input(dim_index), &axis)) {
    return Refuse("split whose pieces are not unpacked right away");
  }
  Node* unpack = node->output()->uses()[0].user;
  if (unpack->owningBlock() != node->owningBlock()) return Refuse("unpacked in another block");
  const int rank = Rank(im, node->input(0));
  if (rank < 1) return Refuse("rank");
  axis = axis < 0 ? axis + rank : axis;
  for (Value* piece : unpack->outputs()) {
    if (im.Meta(piece) == nullptr) return Refuse("piece without a recorded shape");
  }
  const int src = im.Input(node->input(0));
  int64_t start = 0;
  for (Value* piece : unpack->outputs()) {
    plan::Node& n = im.Emit(OpKind::kSlice, node);
    n.inputs = {src};
    n.axis = static_cast<int>(axis);
    n.start = start;
    n.output = im.Output(piece);
    start += im.Meta(piece)->dims[axis];
  }
  im.Absorb(unpack, /*after_node=*/true);
  return absl::OkStatus();
}

absl::Status ImportFunctional(SegmentImporter& im, Node* node, const std::string& kind) {
  if (kind == "aten::chunk" || kind == "aten::split" || kind == "aten::split_with_sizes") {
    return ImportSplit(im, node, kind);
  }
  if (node->outputs().size() != 1 || !IsTensor(node->output())) {
    return Refuse("does not produce a single tensor");
  }
  if (!node->blocks().empty()) return Refuse("has sub-blocks");
  if (kind == "aten::conv2d" || kind == "aten::conv1d") return ImportConv(im, node, false);
  if (kind == "aten::conv_transpose2d" || kind == "aten::conv_transpose1d") {
    return ImportConv(im, node, true);
  }
  if (kind == "aten::linear") {
    plan::ConvAttrs attrs;
    if (!ConstOrAttribute(im, node->input(1), &attrs.weight) || attrs.weight.dims.size() != 2) {
      return Refuse("weight is computed at run time");
    }
    if (!IsNone(node->input(2))) {
      if (!ConstOrAttribute(im, node->input(2), &attrs.bias)) return Refuse("bias is computed at run time");
      attrs.has_bias = true;
    }
    plan::Node& n = EmitOneToOne(im, node, OpKind::kLinear);
    n.conv = std::move(attrs);
    im.CountHeavy();
    return absl::OkStatus();
  }
  if (kind == "aten::matmul" || kind == "aten::bmm" || kind == "aten::mm") {
    if (Rank(im, node->input(0)) < 2 || Rank(im, node->input(1)) < 2) return Refuse("matrix-vector product");
    if (!IsTensor(node->input(1)) || node->input(1)->node()->kind() == c10::prim::Constant) {
      return Refuse("constant right operand");
    }
    const int a = im.Input(node->input(0)), b = im.Input(node->input(1));
    plan::Node& n = im.Emit(OpKind::kMatmul, node);
    n.inputs = {a, b};
    n.output = im.Output(node->output());
    im.CountHeavy();
    return absl::OkStatus();
  }
  // Activations.
  if (kind == "aten::relu") return ImportUnary(im, node, U(Unary::kRelu));
  if (kind == "aten::relu6") return ImportUnary(im, node, U(Unary::kClip, 0, 6));
  if (kind == "aten::hardtanh") {
    double lo = 0, hi = 0;
    if (!ConstDouble(node->input(1), &lo) || !ConstDouble(node->input(2), &hi)) return Refuse("bounds");
    return ImportUnary(im, node, U(Unary::kClip, lo, hi));
  }
  if (kind == "aten::leaky_relu") {
    double slope = 0.01;
    if (!ConstDouble(node->input(1), &slope)) return Refuse("slope");
    return ImportUnary(im, node, U(Unary::kRelu, slope));
  }
  if (kind == "aten::prelu") {
    plan::Constant slopes;
    if (!ConstOrAttribute(im, node->input(1), &slopes)) return Refuse("slopes computed at run time");
    if (Rank(im, node->input(0)) < 2) return Refuse("prelu of a vector");
    plan::Node& n = EmitOneToOne(im, node, OpKind::kPrelu);
    n.scale = std::move(slopes);
    return absl::OkStatus();
  }
  if (kind == "aten::silu") return ImportUnary(im, node, U(Unary::kSilu));
  if (kind == "aten::hardswish") return ImportUnary(im, node, U(Unary::kHardswish));
  if (kind == "aten::hardsigmoid") return ImportUnary(im, node, U(Unary::kHardsigmoid));
  if (kind == "aten::sigmoid") return ImportUnary(im, node, U(Unary::kSigmoid));
  if (kind == "aten::tanh") return ImportUnary(im, node, U(Unary::kTanh));
  if (kind == "aten::exp") return ImportUnary(im, node, U(Unary::kExp));
  if (kind == "aten::sqrt") return ImportUnary(im, node, U(Unary::kSqrt));
  if (kind == "aten::gelu") {
    auto approximate = node->inputs().size() > 1 ? Const(node->input(1)) : c10::nullopt;
    const bool tanh = approximate && approximate->isString() && approximate->toStringRef() == "tanh";
    return ImportUnary(im, node, U(tanh ? Unary::kGeluTanh : Unary::kGeluErf));
  }
  if (kind == "aten::elu") {
    double alpha = 1, scale = 1, input_scale = 1;
    if (!ConstDouble(node->input(1), &alpha) || !ConstDouble(node->input(2), &scale) ||
        !ConstDouble(node->input(3), &input_scale) || scale != 1 || input_scale != 1) {
      return Refuse("elu with scales");
    }
    return ImportUnary(im, node, U(Unary::kElu, alpha));
  }
  // Arithmetic.
  if (kind == "aten::add") return ImportBinary(im, node, plan::BinaryFn::kAdd);
  if (kind == "aten::sub") return ImportBinary(im, node, plan::BinaryFn::kSub);
  if (kind == "aten::mul") return ImportBinary(im, node, plan::BinaryFn::kMul);
  if (kind == "aten::div") return ImportBinary(im, node, plan::BinaryFn::kDiv);
  // Pooling and reductions.
  if (kind == "aten::max_pool2d") return ImportPool(im, node, true);
  if (kind == "aten::avg_pool2d") return ImportPool(im, node, false);
  if (kind == "aten::adaptive_avg_pool2d") return ImportGlobalAverage(im, node);
  if (kind == "aten::mean") {
    Dims dims;
    if (!ConstInts(node->input(1), &dims) || node->inputs().size() < 4 || !IsNone(node->input(3))) {
      return Refuse("mean over computed dims or with a dtype");
    }
    const int rank = Rank(im, node->input(0));
    std::vector<int> axes;
    for (int64_t d : dims) axes.push_back(NormalizeAxis(d, rank));
    std::sort(axes.begin(), axes.end());
    if (rank != 4 || axes != std::vector<int>{2, 3}) return Refuse("mean over other than H, W");
    return ImportGlobalAverage(im, node);
  }
  // Data movement.
  if (kind == "aten::flatten" || kind == "aten::view" || kind == "aten::reshape" ||
      kind == "aten::squeeze" || kind == "aten::unsqueeze") {
    return ImportReshape(im, node);
  }
  if (kind == "aten::contiguous" || kind == "aten::dropout" || kind == "aten::feature_dropout" ||
      kind == "aten::detach") {
    if (kind != "aten::contiguous" && kind != "aten::detach") {
      bool train = true;
      if (!ConstBool(node->input(2), &train) || train) return Refuse("dropout in training mode");
    }
    im.Alias(node->output(), node->input(0));
    return absl::OkStatus();
  }
  if (kind == "aten::permute") {
    Dims perm;
    if (!ConstInts(node->input(1), &perm)) return Refuse("permutation must be constant");
    const int rank = Rank(im, node->input(0));
    std::vector<int> p;
    for (int64_t d : perm) p.push_back(NormalizeAxis(d, rank));
    return ImportPermute(im, node, p);
  }
  if (kind == "aten::transpose") {
    int64_t d0 = 0, d1 = 0;
    if (!ConstInt(node->input(1), &d0) || !ConstInt(node->input(2), &d1)) return Refuse("dims");
    const int rank = Rank(im, node->input(0));
    std::vector<int> p(rank);
    for (int i = 0; i < rank; ++i) p[i] = i;
    std::swap(p[NormalizeAxis(d0, rank)], p[NormalizeAxis(d1, rank)]);
    return ImportPermute(im, node, p);
  }
  if (kind == "aten::cat") {
    Node* list = node->input(0)->node();
    int64_t axis = 0;
    if (list->kind() != c10::prim::ListConstruct || list->output()->uses().size() != 1 ||
        !ConstInt(node->input(1), &axis)) {
      return Refuse("cat of a computed list");
    }
    std::vector<int> srcs;
    for (Value* v : list->inputs()) {
      const TensorMeta* m = im.Meta(v);
      if (m == nullptr || m->dtype != c10::ScalarType::Float) return Refuse("cat of non-float tensors");
      srcs.push_back(im.Input(v));
    }
    im.Absorb(list);
    plan::Node& n = im.Emit(OpKind::kConcat, node);
    n.inputs = srcs;
    n.axis = NormalizeAxis(axis, Rank(im, node->output()));
    n.output = im.Output(node->output());
    return absl::OkStatus();
  }
  if (kind == "aten::softmax" || kind == "aten::log_softmax") {
    int64_t axis = 0;
    if (!ConstInt(node->input(1), &axis) || !IsNone(node->input(2))) return Refuse("softmax dtype");
    plan::Node& n = EmitOneToOne(im, node, OpKind::kSoftmax);
    n.axis = NormalizeAxis(axis, Rank(im, node->input(0)));
    n.log_softmax = kind == "aten::log_softmax";
    im.CountHeavy();
    return absl::OkStatus();
  }
  if (kind == "aten::batch_norm") {
    // (input, weight, bias, running_mean, running_var, training, momentum, eps, cudnn)
    bool training = true;
    double eps = 0;
    plan::Constant mean, var, scale, shift;
    if (!ConstBool(node->input(5), &training) || training || !ConstDouble(node->input(7), &eps) ||
        !ConstOrAttribute(im, node->input(3), &mean) || !ConstOrAttribute(im, node->input(4), &var)) {
      return Refuse("batch norm in training mode or with computed statistics");
    }
    if (!IsNone(node->input(1)) && !ConstOrAttribute(im, node->input(1), &scale)) return Refuse("scale");
    if (!IsNone(node->input(2)) && !ConstOrAttribute(im, node->input(2), &shift)) return Refuse("shift");
    if (Rank(im, node->input(0)) < 2) return Refuse("rank");
    plan::Node& n = EmitOneToOne(im, node, OpKind::kBatchNorm);
    n.epsilon = static_cast<float>(eps);
    n.mean = mean;
    n.variance = var;
    n.scale = scale;
    n.shift = shift;
    im.CountHeavy();
    return absl::OkStatus();
  }
  if (kind == "aten::instance_norm") {
    // (input, weight, bias, running_mean, running_var, use_input_stats, momentum, eps, cudnn)
    bool use_input_stats = false;
    double eps = 0;
    if (!ConstBool(node->input(5), &use_input_stats) || !ConstDouble(node->input(7), &eps)) {
      return Refuse("instance norm with computed flags");
    }
    plan::Constant scale, shift;
    if (!IsNone(node->input(1)) && !ConstOrAttribute(im, node->input(1), &scale)) return Refuse("weight");
    if (!IsNone(node->input(2)) && !ConstOrAttribute(im, node->input(2), &shift)) return Refuse("bias");
    if (Rank(im, node->input(0)) < 3) return Refuse("rank");
    if (!use_input_stats) {
      // Running statistics (track_running_stats in eval): a batch norm.
      plan::Constant mean, var;
      if (!ConstOrAttribute(im, node->input(3), &mean) ||
          !ConstOrAttribute(im, node->input(4), &var)) {
        return Refuse("running statistics are not constants");
      }
      plan::Node& n = EmitOneToOne(im, node, OpKind::kBatchNorm);
      n.epsilon = static_cast<float>(eps);
      n.mean = mean;
      n.variance = var;
      n.scale = scale;
      n.shift = shift;
      im.CountHeavy();
      return absl::OkStatus();
    }
    plan::Node& n = EmitOneToOne(im, node, OpKind::kInstanceNorm);
    n.epsilon = static_cast<float>(eps);
    n.scale = scale;
    n.shift = shift;
    im.CountHeavy();
    return absl::OkStatus();
  }
  if (kind == "aten::upsample_nearest2d" || kind == "aten::upsample_bilinear2d") {
    const bool bilinear = kind == "aten::upsample_bilinear2d";
    if (bilinear) {
      bool align = true;
      if (!ConstBool(node->input(2), &align) || align) return Refuse("align_corners=True");
    }
    const TensorMeta* in = im.Meta(node->input(0));
    const TensorMeta* out = im.Meta(node->output());
    if (in->dims.size() != 4) return Refuse("rank");
    for (int i = 2; i < 4; ++i) {
      if (out->dims[i] % in->dims[i] != 0) return Refuse("non-integer scale");
    }
    plan::Node& n = EmitOneToOne(im, node, OpKind::kResample);
    n.resample.bilinear = bilinear;
    im.CountHeavy();
    return absl::OkStatus();
  }
  if (kind == "aten::pixel_shuffle" || kind == "aten::channel_shuffle") {
    int64_t factor = 0;
    if (!ConstInt(node->input(1), &factor) || Rank(im, node->input(0)) != 4) return Refuse("factor");
    plan::Node& n = EmitOneToOne(im, node, kind == "aten::pixel_shuffle" ? OpKind::kPixelShuffle
                                                          : OpKind::kChannelShuffle);
    n.factor = factor;
    return absl::OkStatus();
  }
  return Refuse(absl::StrCat("no lowering for ", kind));
}

}  // namespace
}  // namespace kiln::engine::segment

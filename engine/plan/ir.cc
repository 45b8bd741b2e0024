#include "engine/plan/ir.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace kiln::engine::plan {

int64_t Product(const Dims& dims) {
  int64_t n = 1;
  for (int64_t d : dims) n *= d;
  return n;
}

int64_t Constant::elements() const { return Product(dims); }

Constant Constant::Own(Dims dims, std::vector<float> values) {
  auto storage = std::make_shared<std::vector<float>>(std::move(values));
  Constant c;
  c.dims = std::move(dims);
  c.data = storage->data();
  c.owner = storage;
  return c;
}

const char* OpKindName(OpKind kind) {
  switch (kind) {
    case OpKind::kConv: return "conv";
    case OpKind::kDeconv: return "deconv";
    case OpKind::kLinear: return "linear";
    case OpKind::kMatmul: return "matmul";
    case OpKind::kEltwise: return "eltwise";
    case OpKind::kBinary: return "binary";
    case OpKind::kPool: return "pool";
    case OpKind::kReshape: return "reshape";
    case OpKind::kPermute: return "permute";
    case OpKind::kConcat: return "concat";
    case OpKind::kSoftmax: return "softmax";
    case OpKind::kBatchNorm: return "batch_norm";
    case OpKind::kResample: return "resample";
    case OpKind::kPixelShuffle: return "pixel_shuffle";
    case OpKind::kChannelShuffle: return "channel_shuffle";
    case OpKind::kReduceMean: return "mean";
    case OpKind::kInstanceNorm: return "instance_norm";
    case OpKind::kSlice: return "slice";
    case OpKind::kPrelu: return "prelu";
  }
  return "?";
}

const char* UnaryName(Unary f) {
  switch (f) {
    case Unary::kRelu: return "relu";
    case Unary::kClip: return "clip";
    case Unary::kLinear: return "linear";
    case Unary::kSigmoid: return "sigmoid";
    case Unary::kTanh: return "tanh";
    case Unary::kSilu: return "silu";
    case Unary::kHardswish: return "hardswish";
    case Unary::kHardsigmoid: return "hardsigmoid";
    case Unary::kGeluErf: return "gelu";
    case Unary::kGeluTanh: return "gelu_tanh";
    case Unary::kElu: return "elu";
    case Unary::kExp: return "exp";
    case Unary::kSqrt: return "sqrt";
    case Unary::kAbs: return "abs";
  }
  return "?";
}

const char* BinaryName(BinaryFn f) {
  switch (f) {
    case BinaryFn::kAdd: return "add";
    case BinaryFn::kSub: return "sub";
    case BinaryFn::kMul: return "mul";
    case BinaryFn::kDiv: return "div";
    case BinaryFn::kMax: return "max";
    case BinaryFn::kMin: return "min";
  }
  return "?";
}

int Graph::AddValue(Dims dims, std::string name) {
  values.push_back(Value{std::move(dims), std::move(name)});
  return static_cast<int>(values.size()) - 1;
}

std::vector<std::vector<int>> Graph::Users() const {
  std::vector<std::vector<int>> users(values.size());
  for (size_t n = 0; n < nodes.size(); ++n) {
    for (int v : nodes[n].inputs) users[v].push_back(static_cast<int>(n));
    for (const PostOp& p : nodes[n].post_ops) {
      if (p.operand >= 0) users[p.operand].push_back(static_cast<int>(n));
    }
  }
  return users;
}

bool Graph::IsOutput(int value) const {
  return std::find(outputs.begin(), outputs.end(), value) != outputs.end();
}

namespace {
std::string UnaryText(const UnaryOp& u) {
  if (u.function == Unary::kRelu && u.alpha == 0) return "relu";
  if (u.function == Unary::kRelu || u.function == Unary::kElu) {
    return absl::StrCat(UnaryName(u.function), "(", u.alpha, ")");
  }
  if (u.function == Unary::kClip || u.function == Unary::kLinear) {
    return absl::StrCat(UnaryName(u.function), "(", u.alpha, ",", u.beta, ")");
  }
  return UnaryName(u.function);
}
}  // namespace

std::string Graph::ToString() const {
  std::string out = absl::StrCat(
      "inputs(", absl::StrJoin(inputs, ",", [](std::string* s, int v) {
        absl::StrAppend(s, "%", v);
      }), ")\n");
  for (const Node& n : nodes) {
    absl::StrAppend(&out, "%", n.output, "[", absl::StrJoin(values[n.output].dims, "x"),
                    "] = ", OpKindName(n.kind));
    if (n.kind == OpKind::kEltwise) absl::StrAppend(&out, ".", UnaryText(n.unary));
    if (n.kind == OpKind::kBinary) absl::StrAppend(&out, ".", BinaryName(n.binary));
    if (n.kind == OpKind::kPool) absl::StrAppend(&out, n.pool.max ? ".max" : ".avg");
    absl::StrAppend(&out, "(", absl::StrJoin(n.inputs, ",", [](std::string* s, int v) {
                      absl::StrAppend(s, "%", v);
                    }), ")");
    if (n.kind == OpKind::kConv || n.kind == OpKind::kDeconv) {
      absl::StrAppend(&out, " k=", absl::StrJoin(n.conv.weight.dims, "x"),
                      " s=", absl::StrJoin(n.conv.strides, "x"), " g=", n.conv.groups);
    }
    for (const PostOp& p : n.post_ops) {
      switch (p.kind) {
        case PostOp::Kind::kUnary: absl::StrAppend(&out, " +", UnaryText(p.unary)); break;
        case PostOp::Kind::kSum: absl::StrAppend(&out, " +sum(%", p.operand, ")"); break;
        case PostOp::Kind::kBinary:
          absl::StrAppend(&out, " +", BinaryName(p.binary), "(%", p.operand, ")");
          break;
      }
    }
    absl::StrAppend(&out, "\n");
  }
  absl::StrAppend(&out, "outputs(", absl::StrJoin(outputs, ",", [](std::string* s, int v) {
                    absl::StrAppend(s, "%", v);
                  }), ")\n");
  return out;
}

}  // namespace kiln::engine::plan

#include "engine/segment/import_operands.h"

#include <torch/csrc/jit/ir/constants.h>

#include <memory>

namespace kiln::engine::segment::import_operands {
namespace {

// An fp32, contiguous copy of `t` (a view when it already is one), kept
// alive by the constant.
plan::Constant FromTensor(const at::Tensor& t) {
  auto owner = std::make_shared<at::Tensor>(t.to(at::kFloat).contiguous());
  plan::Constant c;
  c.dims = owner->sizes().vec();
  c.data = owner->data_ptr<float>();
  c.owner = owner;
  return c;
}

}  // namespace

c10::optional<c10::IValue> Const(torch::jit::Value* v) { return torch::jit::toIValue(v); }

bool ConstInt(torch::jit::Value* v, int64_t* out) {
  auto c = Const(v);
  if (!c || !c->isInt()) return false;
  *out = c->toInt();
  return true;
}

bool ConstDouble(torch::jit::Value* v, double* out) {
  auto c = Const(v);
  if (!c) return false;
  if (c->isDouble()) {
    *out = c->toDouble();
  } else if (c->isInt()) {
    *out = static_cast<double>(c->toInt());
  } else {
    return false;
  }
  return true;
}

bool ConstBool(torch::jit::Value* v, bool* out) {
  auto c = Const(v);
  if (!c || !c->isBool()) return false;
  *out = c->toBool();
  return true;
}

bool ConstInts(torch::jit::Value* v, plan::Dims* out) {
  auto c = Const(v);
  if (!c || !c->isIntList()) return false;
  *out = c->toIntVector();
  return true;
}

bool IsNone(torch::jit::Value* v) {
  if (v->type()->kind() == c10::TypeKind::NoneType) return true;
  auto c = Const(v);
  return c && c->isNone();
}

bool IsTensor(torch::jit::Value* v) { return v->type()->kind() == c10::TypeKind::TensorType; }

bool ConstTensor(torch::jit::Value* v, plan::Constant* out) {
  auto c = Const(v);
  if (!c || !c->isTensor()) return false;
  const at::Tensor& t = c->toTensor();
  if (!t.is_floating_point() || !t.device().is_cpu()) return false;
  *out = FromTensor(t);
  return true;
}

bool ConstOrAttribute(SegmentImporter& im, torch::jit::Value* v, plan::Constant* out) {
  if (ConstTensor(v, out)) return true;
  if (v->node()->kind() != c10::prim::GetAttr || !im.IsConstantAttribute(v)) return false;
  const TensorMeta* meta = im.Meta(v);
  if (meta == nullptr || !meta->value.defined() || !meta->value.is_floating_point()) return false;
  // A copy: the profile's tensor is the module's own buffer.
  *out = FromTensor(meta->value.clone());
  return true;
}

plan::Dims Repeat(const plan::Dims& v, size_t n) {
  if (v.size() == 1 && n > 1) return plan::Dims(n, v[0]);
  return v;
}

int Rank(SegmentImporter& im, torch::jit::Value* v) {
  const TensorMeta* m = im.Meta(v);
  return m ? static_cast<int>(m->dims.size()) : -1;
}

int NormalizeAxis(int64_t axis, int rank) {
  return static_cast<int>(axis < 0 ? axis + rank : axis);
}

}  // namespace kiln::engine::segment::import_operands

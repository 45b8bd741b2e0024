// Reading a TorchScript node's non-tensor operands (constants, frozen
// weights, attribute reads) for the importer's per-op translations.
#ifndef KILN_ENGINE_SEGMENT_IMPORT_OPERANDS_H_
#define KILN_ENGINE_SEGMENT_IMPORT_OPERANDS_H_

#include <torch/csrc/jit/ir/ir.h>

#include "engine/plan/ir.h"
#include "engine/segment/importer.h"

namespace kiln::engine::segment::import_operands {

// Each returns false (leaving `out` alone) when `v` is not a constant of
// that kind.
bool ConstInt(torch::jit::Value* v, int64_t* out);
bool ConstDouble(torch::jit::Value* v, double* out);  // ints accepted too
bool ConstBool(torch::jit::Value* v, bool* out);
bool ConstInts(torch::jit::Value* v, plan::Dims* out);
bool IsNone(torch::jit::Value* v);
bool IsTensor(torch::jit::Value* v);
// A frozen floating-point weight as an fp32 IR constant.
bool ConstTensor(torch::jit::Value* v, plan::Constant* out);
// A frozen weight, or a module attribute read whose value the profile
// recorded (only when the graph never assigns attributes).
bool ConstOrAttribute(SegmentImporter& im, torch::jit::Value* v, plan::Constant* out);
// The generic form of TorchScript's optional constants.
c10::optional<c10::IValue> Const(torch::jit::Value* v);

// PyTorch's one-element lists stand for every spatial dim.
plan::Dims Repeat(const plan::Dims& v, size_t n);
// Rank of a tensor operand from the profile; -1 when unrecorded.
int Rank(SegmentImporter& im, torch::jit::Value* v);
int NormalizeAxis(int64_t axis, int rank);

}  // namespace kiln::engine::segment::import_operands

#endif  // KILN_ENGINE_SEGMENT_IMPORT_OPERANDS_H_

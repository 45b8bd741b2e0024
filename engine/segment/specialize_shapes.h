// Shape specialization: a plan serves one input signature, so the sizes a
// graph reads from its tensors (aten::size, aten::dim) are constants within
// the plan. Folding them lets constant propagation turn view/reshape size
// arguments into constants and removes the shape arithmetic that would
// otherwise split segments. Graphs with value-dependent shapes (nonzero,
// masked_select, unique, nms, ...) are left alone: there a size is not a
// function of the input shapes.
#ifndef KILN_ENGINE_SEGMENT_SPECIALIZE_SHAPES_H_
#define KILN_ENGINE_SEGMENT_SPECIALIZE_SHAPES_H_

#include <torch/csrc/jit/ir/ir.h>

#include <unordered_set>

#include "engine/segment/shape_profile.h"

namespace kiln::engine::segment {

// Returns the number of size queries replaced by constants plus loops
// peeled (0: nothing changed). Runs constant propagation and dead
// code elimination after replacing.
int SpecializeShapes(const std::shared_ptr<torch::jit::Graph>& graph,
                     const ShapeProfile& profile);

// Whether some op in `block` (at any depth) makes shapes depend on values.
bool HasValueDependentShapes(torch::jit::Block* block);

// The top-level values whose shape may depend on input values (produced by
// a value-dependent op or control flow, or computed from such a value). A
// plan compiled for one shape of them would not fit the next request.
std::unordered_set<const torch::jit::Value*> ValueDependentValues(torch::jit::Graph& graph);

}  // namespace kiln::engine::segment

#endif  // KILN_ENGINE_SEGMENT_SPECIALIZE_SHAPES_H_

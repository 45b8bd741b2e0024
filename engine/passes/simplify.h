// Pass `simplify` (and `final_simplify`, the same pass run last): constant
// propagation, dead code elimination and common subexpression elimination.
//
// Why: after inlining and mutation removal a graph carries computations on
// constants (list building, shape arithmetic on frozen weights, `if` on a
// constant flag) and duplicates; folding them early lets the pattern passes
// match, and running it last removes what the rewrites left behind.
//
// Constant propagation never runs ops on custom-class objects (packed weights
// of third-party ops) or nondeterministic ops; dead code elimination keeps
// nodes with side effects.
//
// Returns true if the graph changed. Throws c10::Error if LibTorch does.
#ifndef KILN_ENGINE_PASSES_SIMPLIFY_H_
#define KILN_ENGINE_PASSES_SIMPLIFY_H_

#include <torch/csrc/jit/ir/ir.h>

#include <memory>

namespace kiln::engine::passes {

bool SimplifyGraph(std::shared_ptr<torch::jit::Graph>& graph);

}  // namespace kiln::engine::passes

#endif  // KILN_ENGINE_PASSES_SIMPLIFY_H_

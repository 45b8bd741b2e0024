// Pass `inline_calls`: replaces every function and method call in the graph
// (prim::CallFunction, prim::CallMethod) with the callee's body, recursively.
//
// Why first: every later pass - LibTorch's and Kiln's - only sees the nodes of
// the graph it is given, so a conv hidden inside a submodule's forward() is
// invisible until inlined. A frozen module's graph is already inlined (freezing
// inlines), so this pass matters for unfrozen modules.
//
// The module the graph belongs to must be alive: the callees' bodies live
// in its compilation unit, which the graph's types refer to only weakly.
//
// Returns true if the graph changed. Throws c10::Error if LibTorch does.
#ifndef KILN_ENGINE_PASSES_INLINE_CALLS_H_
#define KILN_ENGINE_PASSES_INLINE_CALLS_H_

#include <torch/csrc/jit/ir/ir.h>

#include <memory>

namespace kiln::engine::passes {

bool InlineCalls(std::shared_ptr<torch::jit::Graph>& graph);

}  // namespace kiln::engine::passes

#endif  // KILN_ENGINE_PASSES_INLINE_CALLS_H_

// Which module attribute reads of a graph hold the same value on every call,
// so that a plan may capture the tensor they read (weights of an unfrozen
// module).
//
// Freezing turns a module's weights into constants; a module that cannot be
// frozen (an interface-typed submodule, say) keeps them as prim::GetAttr
// chains from `self`. Such a read is treated as constant when nothing in the
// graph can re-point it:
//   - no prim::SetAttr in the graph assigns any name along the chain
//     (self.a.b.weight is not constant if anything assigns "a", "b" or
//     "weight", on any object: by name, conservatively), and
//   - no call the graph leaves opaque (prim::CallMethod, e.g. on an interface)
//     has a receiver on the chain: a method may assign its own module's
//     attributes.
// Reads of attributes that are tensors (or optional tensors, like a conv's
// bias) or modules qualify; everything else (ints, lists, ...) is left alone.
#ifndef KILN_ENGINE_SEGMENT_CONSTANT_ATTRIBUTES_H_
#define KILN_ENGINE_SEGMENT_CONSTANT_ATTRIBUTES_H_

#include <torch/csrc/jit/ir/ir.h>

#include <unordered_set>

namespace kiln::engine::segment {

// The outputs of the top-level prim::GetAttr nodes of `graph` (chains rooted
// at its first input) that qualify as constant under the rules above.
std::unordered_set<const torch::jit::Value*> ConstantAttributeReads(const torch::jit::Graph& graph);

}  // namespace kiln::engine::segment

#endif  // KILN_ENGINE_SEGMENT_CONSTANT_ATTRIBUTES_H_

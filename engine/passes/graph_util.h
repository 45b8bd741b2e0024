// Small graph helpers the passes and the pipeline share: measuring a graph
// and replacing one graph's contents with another's.
//
// None of these throw for a well-formed graph; ReplaceGraphContents may throw
// c10::Error if `target` is malformed (a value used after its node).
#ifndef KILN_ENGINE_PASSES_GRAPH_UTIL_H_
#define KILN_ENGINE_PASSES_GRAPH_UTIL_H_

#include <torch/csrc/jit/ir/ir.h>

#include <string>

namespace kiln::engine::passes {

// Nodes in the graph, those inside sub-blocks (If, Loop) included.
int CountNodes(const torch::jit::Graph& graph);

// The graph's text without source locations: what passes built on LibTorch
// functions that return void compare to tell whether they changed anything.
std::string GraphText(const torch::jit::Graph& graph);

// Makes `target` hold a copy of `source` (inputs, nodes, outputs), keeping the
// `target` object itself, so owners of the graph (a module's method) see the
// new contents. Node and Value pointers into `target` are invalidated.
void ReplaceGraphContents(torch::jit::Graph& source, torch::jit::Graph& target);

}  // namespace kiln::engine::passes

#endif  // KILN_ENGINE_PASSES_GRAPH_UTIL_H_

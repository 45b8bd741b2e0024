// Helpers shared by the pass tests: graphs from textual IR and from small
// modules, constants bound into parsed graphs, and running a graph to compare
// numerics before and after a pass. Test-only; not part of kiln_passes.
#ifndef KILN_ENGINE_PASSES_TEST_GRAPHS_H_
#define KILN_ENGINE_PASSES_TEST_GRAPHS_H_

#include <torch/csrc/jit/api/module.h>
#include <torch/csrc/jit/ir/ir.h>

#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "gtest/gtest.h"

namespace kiln::engine::passes::testing {

// `values`, when given, gets each %name of the IR mapped to its Value (the
// parser does not keep the names of node outputs in the graph's text).
std::shared_ptr<torch::jit::Graph> ParseGraph(
    const std::string& ir,
    std::unordered_map<std::string, torch::jit::Value*>* values = nullptr);

// The one node of `kind` in the top-level block; fails the test (returns
// null) if there is not exactly one.
torch::jit::Node* OnlyNode(torch::jit::Graph& graph,
                           const std::string& kind);

// An empty module with the `training` attribute nn.Module has, so its
// methods may read self.training and eval() sets it.
torch::jit::Module NewModule(const std::string& name);

// Turns the graph inputs named in `constants` into constants holding the
// given values - how a frozen graph carries its weights - and removes those
// inputs. Inputs not named stay inputs, in order.
void BindConstants(torch::jit::Graph& graph,
                   const std::map<std::string, c10::IValue>& constants);

// Puts `module` in eval mode and freezes it without LibTorch's frozen-graph
// optimizations (which torch::jit::freeze would run, folding batch norm and
// removing dropout before the passes under test get to).
torch::jit::Module FreezeUnoptimized(torch::jit::Module module);

std::shared_ptr<torch::jit::Graph> ForwardGraphCopy(
    const torch::jit::Module& module);

// Runs `graph` in the TorchScript interpreter on `inputs` (for a method's
// graph, the module object first) and returns its outputs. The graph itself
// is not modified.
std::vector<c10::IValue> RunGraph(const std::shared_ptr<torch::jit::Graph>& graph,
                                  const std::vector<c10::IValue>& inputs);

// Runs `before` and `after` on the same inputs and compares their single
// tensor output with torch::allclose(rtol, atol) (NaNs compare equal).
::testing::AssertionResult SameResults(
    const std::shared_ptr<torch::jit::Graph>& before,
    const std::shared_ptr<torch::jit::Graph>& after,
    const std::vector<c10::IValue>& inputs, double rtol, double atol);

// Nodes of `kind` ("aten::batch_norm"), sub-blocks included.
int CountKind(const torch::jit::Graph& graph, const std::string& kind);

}  // namespace kiln::engine::passes::testing

#endif  // KILN_ENGINE_PASSES_TEST_GRAPHS_H_

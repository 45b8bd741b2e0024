// Kiln's graph-pass pipeline: the passes that run on a model's forward()
// graph after loading and freezing, before segmentation. pipeline.cc lists
// them in order and says why each is where it is.
//
// Contract:
//  - RunPipeline rewrites the graph in place: on return the same Graph object
//    (the one the module's forward() method owns) holds the optimized graph.
//    Node and Value pointers into it from before the call are invalid after
//    it, success or not.
//  - A pass that does not apply leaves the graph as it was; that is never an
//    error.
//  - Internal: LibTorch threw inside a pass (the message names the pass and
//    carries LibTorch's message). The passes run on a copy, so then the graph
//    holds exactly what it held before the call, and `records` holds the
//    passes that completed before the failing one. (The copy is installed
//    into the graph only after every pass succeeded; that step does not throw
//    for a well-formed graph, and if it ever did the graph would be invalid -
//    the message then names the pass 'install'.)
//  - `records` (may be null) is cleared and gets one entry per pass run, in
//    order.
// Thread safety: one thread at a time per graph (and per module: inlining
// reads the module's methods). Different models' graphs may be optimized
// concurrently, as LibTorch's own graph executors run these passes.
#ifndef KILN_ENGINE_PASSES_PIPELINE_H_
#define KILN_ENGINE_PASSES_PIPELINE_H_

#include <torch/csrc/jit/ir/ir.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"

namespace kiln::engine::passes {

struct PassRecord {
  std::string name;
  bool changed = false;
  double milliseconds = 0;
  int nodes_before = 0;  // nodes in the graph, sub-blocks included
  int nodes_after = 0;
};

struct PipelineOptions {
  // False: the module could not be frozen, so weights are attribute reads
  // rather than constants; passes that fold weights are skipped.
  bool frozen = true;
};

// Runs the passes of PipelineOrder(options) in order on a forward() graph (of
// a frozen module when options.frozen).
absl::Status RunPipeline(std::shared_ptr<torch::jit::Graph>& graph,
                         const PipelineOptions& options,
                         std::vector<PassRecord>* records);

// The names of the passes RunPipeline runs for `options`, in order (for logs
// and the kiln-compile tool).
std::vector<std::string> PipelineOrder(const PipelineOptions& options);

}  // namespace kiln::engine::passes

#endif  // KILN_ENGINE_PASSES_PIPELINE_H_

#include "engine/passes/pipeline.h"

#include <c10/util/Exception.h>

#include <chrono>
#include <exception>

#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "engine/passes/fold_frozen_conv.h"
#include "engine/passes/graph_util.h"
#include "engine/passes/inline_calls.h"
#include "engine/passes/normalize_activations.h"
#include "engine/passes/normalize_convolution.h"
#include "engine/passes/remove_dropout.h"
#include "engine/passes/remove_mutation.h"
#include "engine/passes/simplify.h"

namespace kiln::engine::passes {
namespace {

using PassFunction = bool (*)(std::shared_ptr<torch::jit::Graph>&);

struct Pass {
  const char* name;
  PassFunction run;
  bool needs_frozen;  // folds weights, which only a frozen graph has as constants
};

// The order, and why:
//  1. inline_calls: every later pass sees only the nodes of this graph, so
//     calls into submodules and functions are opened first.
//  2. remove_dropout: eval-mode dropout is the identity; left in, it sits
//     between ops the fusions want adjacent (linear -> dropout -> add) and
//     is one more node for the segmenter to route around.
//  3. remove_mutation: in-place ops (relu_, add_, hardtanh_) become
//     functional; the segmenter only lowers functional ops, and the folds
//     below only match functional add/mul (`y += c` after a conv folds once
//     it is aten::add).
//  4. simplify: constant propagation turns the argument lists of convs into
//     constants (the folds require every argument constant), and DCE/CSE
//     clear what the first three passes left.
//  5. fold_frozen_conv (frozen only): batch norm, add/sub and mul/div by
//     constants folded into the conv's weights, to a fixed point.
//  6. normalize_convolution: after folding, which accepts both spellings, so
//     the segmenter sees only aten::conv{1,2,3}d / conv_transpose{1,2,3}d.
//  7. normalize_activations: hardtanh(x, 0, 6) -> relu6; runs after
//     remove_mutation so that nn.ReLU6(inplace=True) is caught too.
//  8. final_simplify: removes the constants and nodes the rewrites orphaned.
//
// Not run, on purpose: LibTorch's FrozenLinearTranspose (rewrites
// aten::linear into matmul on a transposed weight, which hides the linear
// from the segmenter's linear+bias+activation fusion) and FrozenConcatLinear
// (merges linears sharing an input into one plus slices: a layout decision
// that belongs to the plan builder). LibTorch 1.13 has no linear/batch-norm
// fold.
constexpr Pass kPasses[] = {
    {"inline_calls", &InlineCalls, false},
    {"remove_dropout", &RemoveEvalDropout, false},
    {"remove_mutation", &RemoveMutation, false},
    {"simplify", &SimplifyGraph, false},
    {"fold_frozen_conv", &FoldFrozenConvolutions, true},
    {"normalize_convolution", &NormalizeConvolution, false},
    {"normalize_activations", &NormalizeActivations, false},
    {"final_simplify", &SimplifyGraph, false},
};

bool Runs(const Pass& pass, const PipelineOptions& options) {
  return options.frozen || !pass.needs_frozen;
}

double MillisecondsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double, std::milli>(
             std::chrono::steady_clock::now() - start)
      .count();
}

absl::Status PassFailed(const char* pass, const std::string& message) {
  return absl::InternalError(
      absl::StrCat("graph pass '", pass, "' failed: ", message));
}

}  // namespace

std::vector<std::string> PipelineOrder(const PipelineOptions& options) {
  std::vector<std::string> names;
  for (const Pass& pass : kPasses) {
    if (Runs(pass, options)) names.push_back(pass.name);
  }
  return names;
}

absl::Status RunPipeline(std::shared_ptr<torch::jit::Graph>& graph,
                         const PipelineOptions& options,
                         std::vector<PassRecord>* records) {
  if (records != nullptr) records->clear();
  // A LibTorch pass that throws may leave its graph half rewritten; working
  // on a copy keeps the caller's graph whole on every path.
  std::shared_ptr<torch::jit::Graph> work = graph->copy();
  bool any_changed = false;
  for (const Pass& pass : kPasses) {
    if (!Runs(pass, options)) continue;
    PassRecord record;
    record.name = pass.name;
    record.nodes_before = CountNodes(*work);
    const auto start = std::chrono::steady_clock::now();
    try {
      record.changed = pass.run(work);
    } catch (const c10::Error& e) {
      return PassFailed(pass.name, std::string(absl::StripAsciiWhitespace(
                                       e.what_without_backtrace())));
    } catch (const std::exception& e) {
      return PassFailed(pass.name, e.what());
    }
    record.milliseconds = MillisecondsSince(start);
    record.nodes_after = CountNodes(*work);
    any_changed |= record.changed;
    if (records != nullptr) records->push_back(std::move(record));
  }
  // Untouched graphs keep even their value numbering (a copy renumbers).
  if (!any_changed) return absl::OkStatus();
  try {
    ReplaceGraphContents(*work, *graph);
  } catch (const c10::Error& e) {
    return PassFailed("install", std::string(absl::StripAsciiWhitespace(
                                     e.what_without_backtrace())));
  }
  return absl::OkStatus();
}

}  // namespace kiln::engine::passes

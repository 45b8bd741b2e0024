// Kiln's fusion passes over the segment IR. Each folds a node into the
// post-ops of the node producing its input, so oneDNN applies it while the
// producer's result is still in registers or cache. A pass that finds
// nothing leaves the graph untouched.
#ifndef KILN_ENGINE_PLAN_FUSION_H_
#define KILN_ENGINE_PLAN_FUSION_H_

#include "engine/plan/ir.h"

namespace kiln::engine::plan {

// Unary activation after a conv / deconv / linear / matmul / binary whose
// result nothing else reads -> an eltwise post-op. Returns the fusions made.
int FuseActivations(Graph& graph);

// x + y where x is a conv / deconv / linear result read only by the add and
// y exists before x is computed -> a sum post-op accumulating into y (the
// residual connection). Per-channel or scalar-shaped y with add/sub/mul/div
// -> a binary post-op instead. Returns the fusions made.
int FuseBinaryIntoProducer(Graph& graph);

// Inference batch norm (constant statistics) right after a convolution or
// transposed convolution whose result nothing else reads -> folded into its
// weights and bias. (LibTorch's folding runs before segmentation; this catches the norms
// Kiln's importer turned into batch norms, e.g. instance norm with running
// statistics.) Returns the folds made.
int FoldBatchNormIntoConv(Graph& graph);

// view(N, g, C/g, ...) -> transpose(1, 2) -> view(N, C, ...), how models
// written before aten::channel_shuffle spell it (ShuffleNet) -> one channel
// shuffle, which runs in any layout instead of three plain-layout copies.
// Returns the shuffles recognized.
int RecognizeChannelShuffle(Graph& graph);

// The fusion passes in order, to a fixed point; returns total fusions.
// Order: batch-norm folding, channel shuffles, narrow convolutions split
// (split_narrow_conv.h), then activations (conv+relu), then residual sums
// (conv+relu+add), then activations again (the relu after the residual add).
int RunFusionPasses(Graph& graph);

}  // namespace kiln::engine::plan

#endif  // KILN_ENGINE_PLAN_FUSION_H_

// Pass `remove_dropout`: removes aten::dropout, aten::dropout_,
// aten::feature_dropout and aten::feature_dropout_ whose `train` argument is
// the constant false - in eval mode they return their input unchanged.
//
// Dropout whose `train` is not a constant (an unfrozen module reads
// self.training at run time) or is true is left alone: removing it would
// change what the model computes.
//
// Returns true if the graph changed. Throws c10::Error if LibTorch does.
#ifndef KILN_ENGINE_PASSES_REMOVE_DROPOUT_H_
#define KILN_ENGINE_PASSES_REMOVE_DROPOUT_H_

#include <torch/csrc/jit/ir/ir.h>

#include <memory>

namespace kiln::engine::passes {

bool RemoveEvalDropout(std::shared_ptr<torch::jit::Graph>& graph);

}  // namespace kiln::engine::passes

#endif  // KILN_ENGINE_PASSES_REMOVE_DROPOUT_H_

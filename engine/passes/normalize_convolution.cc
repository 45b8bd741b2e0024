#include "engine/passes/normalize_convolution.h"

#include <torch/csrc/jit/ir/constants.h>

#include <optional>
#include <vector>

namespace kiln::engine::passes {
namespace {

using torch::jit::Node;
using torch::jit::Value;

// aten::_convolution's inputs by position; both overloads (with and without
// allow_tf32) share these.
enum ConvolutionInput {
  kInput = 0,
  kWeight,
  kBias,
  kStride,
  kPadding,
  kDilation,
  kTransposed,
  kOutputPadding,
  kGroups,
};

// The two functional overloads; the .out overload writes into its `out`
// argument and is left alone.
bool IsUnderscoreConvolution(const Node* node) {
  return node->matches(
             "aten::_convolution(Tensor input, Tensor weight, Tensor? bias, "
             "int[] stride, int[] padding, int[] dilation, bool transposed, "
             "int[] output_padding, int groups, bool benchmark, "
             "bool deterministic, bool cudnn_enabled, bool allow_tf32) "
             "-> Tensor") ||
         node->matches(
             "aten::_convolution.deprecated(Tensor input, Tensor weight, "
             "Tensor? bias, int[] stride, int[] padding, int[] dilation, "
             "bool transposed, int[] output_padding, int groups, "
             "bool benchmark, bool deterministic, bool cudnn_enabled) "
             "-> Tensor");
}

// The number of elements of an int[] argument, when the graph says.
std::optional<int64_t> ListLength(const Value* list) {
  if (auto constant = torch::jit::toIValue(list)) {
    if (constant->isIntList()) return constant->toIntList().size();
    return std::nullopt;
  }
  if (list->node()->kind() == c10::prim::ListConstruct) {
    return list->node()->inputs().size();
  }
  return std::nullopt;
}

std::optional<int64_t> TensorRank(const Value* value) {
  if (auto constant = torch::jit::toIValue(value)) {
    if (constant->isTensor()) return constant->toTensor().dim();
    return std::nullopt;
  }
  if (auto type = value->type()->cast<c10::TensorType>()) {
    if (auto rank = type->dim()) return static_cast<int64_t>(*rank);
  }
  return std::nullopt;
}

// Spatial dims from the most trustworthy source: a constant weight is
// exact; lists may be given at length 1 and expanded by LibTorch, so they
// only count when all three agree.
std::optional<int64_t> SpatialRank(const Node* conv) {
  if (auto weight_rank = TensorRank(conv->input(kWeight))) {
    return *weight_rank - 2;
  }
  if (auto input_rank = TensorRank(conv->input(kInput))) {
    return *input_rank - 2;
  }
  const auto stride = ListLength(conv->input(kStride));
  const auto padding = ListLength(conv->input(kPadding));
  const auto dilation = ListLength(conv->input(kDilation));
  if (stride && stride == padding && stride == dilation) return stride;
  return std::nullopt;
}

// An int[] argument's elements when they are known at compile time: a
// constant list, or a list built from constants (traced graphs before
// constant propagation).
std::optional<std::vector<int64_t>> ConstantIntList(const Value* list) {
  if (auto constant = torch::jit::toIValue(list)) {
    if (!constant->isIntList()) return std::nullopt;
    return constant->toIntVector();
  }
  if (list->node()->kind() != c10::prim::ListConstruct) return std::nullopt;
  std::vector<int64_t> elements;
  for (const Value* element : list->node()->inputs()) {
    auto value = torch::jit::constant_as<int64_t>(element);
    if (!value) return std::nullopt;
    elements.push_back(*value);
  }
  return elements;
}

bool IsAllZeros(const Value* list) {
  auto elements = ConstantIntList(list);
  if (!elements) return false;
  for (const int64_t element : *elements) {
    if (element != 0) return false;
  }
  return true;
}

struct Rewrite {
  Node* conv;
  c10::Symbol replacement;
  // Positions in the convolution's inputs, in the replacement's order. Not
  // Values: an earlier rewrite may replace the value feeding this one.
  std::vector<int> input_positions;
};

std::optional<Rewrite> PlanRewrite(Node* conv) {
  const auto transposed = torch::jit::constant_as<bool>(conv->input(kTransposed));
  if (!transposed) return std::nullopt;
  const auto rank = SpatialRank(conv);
  if (!rank || *rank < 1 || *rank > 3) return std::nullopt;
  if (auto input_rank = TensorRank(conv->input(kInput));
      input_rank && *input_rank != *rank + 2) {
    return std::nullopt;
  }
  const std::string dims = std::to_string(*rank) + "d";
  if (*transposed) {
    return Rewrite{conv,
                   c10::Symbol::fromQualString("aten::conv_transpose" + dims),
                   {kInput, kWeight, kBias, kStride, kPadding, kOutputPadding,
                    kGroups, kDilation}};
  }
  if (!IsAllZeros(conv->input(kOutputPadding))) return std::nullopt;
  return Rewrite{conv, c10::Symbol::fromQualString("aten::conv" + dims),
                 {kInput, kWeight, kBias, kStride, kPadding, kDilation,
                  kGroups}};
}

void CollectRewrites(torch::jit::Block* block, std::vector<Rewrite>* rewrites) {
  for (Node* node : block->nodes()) {
    for (torch::jit::Block* sub_block : node->blocks()) {
      CollectRewrites(sub_block, rewrites);
    }
    if (!IsUnderscoreConvolution(node)) continue;
    if (auto rewrite = PlanRewrite(node)) rewrites->push_back(*rewrite);
  }
}

// Returns false, leaving the graph as it was, if no operator matches the
// new node (an overload this LibTorch lacks).
bool Apply(const Rewrite& rewrite) {
  Node* conv = rewrite.conv;
  torch::jit::Graph* graph = conv->owningGraph();
  std::vector<Value*> inputs;
  for (const int position : rewrite.input_positions) {
    inputs.push_back(conv->input(position));
  }
  Node* replacement = graph->create(rewrite.replacement, inputs, 1);
  replacement->insertBefore(conv);
  replacement->copyMetadata(conv);
  replacement->output()->copyMetadata(conv->output());
  if (replacement->maybeSchema() == nullptr) {
    replacement->destroy();
    return false;
  }
  conv->output()->replaceAllUsesWith(replacement->output());
  conv->destroy();
  return true;
}

}  // namespace

bool NormalizeConvolution(std::shared_ptr<torch::jit::Graph>& graph) {
  // Collected first, applied in graph order, so that what is rewritten
  // never depends on the iteration over a list being edited.
  std::vector<Rewrite> rewrites;
  CollectRewrites(graph->block(), &rewrites);
  bool changed = false;
  for (const Rewrite& rewrite : rewrites) changed |= Apply(rewrite);
  return changed;
}

}  // namespace kiln::engine::passes

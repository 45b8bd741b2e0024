// The segment IR: what the plan builder compiles. A segment is a small
// dataflow graph of tensor operations with fixed shapes, produced from a
// TorchScript subgraph (engine/segment) and rewritten by the fusion passes
// (engine/plan/fuse_*). It has no LibTorch dependency.
//
// Every value is logically fp32 with known dims; the builder decides each
// value's storage (layout, fp32 or bf16). Weights are constants owned by the
// graph (shared, read-only).
#ifndef KILN_ENGINE_PLAN_IR_H_
#define KILN_ENGINE_PLAN_IR_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace kiln::engine::plan {

using Dims = std::vector<int64_t>;

// Number of elements of a tensor with `dims` (1 for no dims).
int64_t Product(const Dims& dims);

// A read-only fp32 tensor, row-major, kept alive by `owner`.
struct Constant {
  Dims dims;
  const float* data = nullptr;
  std::shared_ptr<const void> owner;
  int64_t elements() const;
  // Copies `values` into a constant that owns them.
  static Constant Own(Dims dims, std::vector<float> values);
};

enum class OpKind {
  kConv,          // convolution (1d lowered as 2d), grouped/depthwise/dilated
  kDeconv,        // transposed convolution
  kLinear,        // y = x W^T + b over the last dim (matmul with constant W)
  kMatmul,        // y = a @ b, both runtime values, batched over leading dims
  kEltwise,       // unary elementwise: relu, gelu, clip, linear (a*x+b), ...
  kBinary,        // add/sub/mul/div/max/min with broadcasting
  kPool,          // max / avg pooling, 2d
  kReshape,       // view/reshape/flatten: same elements, new dims
  kPermute,       // permute/transpose
  kConcat,        // cat along an axis
  kSoftmax,       // softmax / log_softmax along an axis
  kBatchNorm,     // inference batch norm with constant statistics
  kResample,      // nearest / bilinear upsampling
  kPixelShuffle,  // depth to space
  kChannelShuffle,
  kReduceMean,    // mean over trailing spatial dims
  kInstanceNorm,  // per-sample, per-channel normalization (+ affine)
  kSlice,         // a contiguous range along one axis (chunk, split)
  kPrelu,         // x > 0 ? x : slope[channel] * x (Kiln's kernel); slopes in `scale`
};
const char* OpKindName(OpKind kind);

// Unary elementwise functions; each maps to a oneDNN eltwise algorithm (or a
// short chain of them, e.g. hardsigmoid = clip(x/6 + 1/2, 0, 1)).
enum class Unary {
  kRelu,       // alpha: negative slope (leaky_relu), 0 for relu
  kClip,       // alpha: min, beta: max (hardtanh, relu6)
  kLinear,     // alpha * x + beta (scalar add/mul/sub/div)
  kSigmoid,
  kTanh,
  kSilu,
  kHardswish,
  kHardsigmoid,
  kGeluErf,
  kGeluTanh,
  kElu,        // alpha
  kExp,
  kSqrt,
  kAbs,
};
const char* UnaryName(Unary f);

struct UnaryOp {
  Unary function = Unary::kRelu;
  float alpha = 0;
  float beta = 0;
};

enum class BinaryFn { kAdd, kSub, kMul, kDiv, kMax, kMin };
const char* BinaryName(BinaryFn f);

// Work fused into a conv / deconv / linear / matmul / binary node and applied
// to its result in order.
struct PostOp {
  enum class Kind {
    kUnary,   // unary
    kSum,     // result += value `operand` (same dims): the residual add
    kBinary,  // result = result <binary> value `operand` (broadcastable)
  };
  Kind kind = Kind::kUnary;
  UnaryOp unary;
  BinaryFn binary = BinaryFn::kAdd;
  int operand = -1;  // value id for kSum / kBinary
};

struct ConvAttrs {
  Dims strides, padding_l, padding_r, dilation;  // dilation as in PyTorch (1 = none)
  int64_t groups = 1;
  Constant weight;  // PyTorch layout: (O, I/g, kh, kw); deconv (I, O/g, kh, kw)
  // kConv only: the weight is computed at run time (StyleGAN2's modulated
  // convolution) and read from value node.inputs[1]; `weight` then has its
  // dims but no data.
  bool weight_is_input = false;
  bool has_bias = false;
  Constant bias;
  Dims output_padding;  // deconv only
};

struct PoolAttrs {
  bool max = true;
  bool count_include_pad = true;  // avg only
  Dims kernel, strides, padding_l, padding_r, dilation;
};

struct ResampleAttrs {
  bool bilinear = false;  // else nearest
  bool align_corners = false;
};

struct Node {
  OpKind kind = OpKind::kEltwise;
  std::vector<int> inputs;  // value ids
  int output = -1;          // value id
  UnaryOp unary;            // kEltwise
  BinaryFn binary = BinaryFn::kAdd;  // kBinary
  ConvAttrs conv;           // kConv, kDeconv, kLinear (weight, bias)
  PoolAttrs pool;           // kPool
  ResampleAttrs resample;   // kResample
  std::vector<int> permutation;  // kPermute: output dim i = input dim permutation[i]
  int axis = 0;             // kConcat, kSoftmax, kSlice
  int64_t start = 0;        // kSlice: first index along axis
  bool log_softmax = false; // kSoftmax
  int64_t factor = 0;       // kPixelShuffle (upscale), kChannelShuffle (groups)
  float epsilon = 0;        // kBatchNorm, kInstanceNorm
  Constant mean, variance, scale, shift;  // kBatchNorm (scale/shift may be empty); kInstanceNorm scale/shift; kPrelu scale (1 or C slopes)
  std::vector<PostOp> post_ops;
  std::string origin;       // the TorchScript node(s) it came from, for reports
};

struct Value {
  Dims dims;
  std::string name;  // TorchScript debug name, for reports
};

struct Graph {
  std::vector<Value> values;
  std::vector<Node> nodes;  // topological order
  std::vector<int> inputs;  // value ids bound to the segment's inputs, in order
  std::vector<int> outputs; // value ids returned, in order

  int AddValue(Dims dims, std::string name = "");
  // Uses of each value by nodes (as input or post-op operand), in node order.
  std::vector<std::vector<int>> Users() const;
  bool IsOutput(int value) const;
  // One line per node; what IR tests match against.
  std::string ToString() const;
};

}  // namespace kiln::engine::plan

#endif  // KILN_ENGINE_PLAN_IR_H_

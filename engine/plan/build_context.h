// Internal to the plan builder: where each value lives while a segment is
// being lowered, the steps recorded so far, and the memory plan. The lower_*
// files add steps through it; compiled_segment.cc turns it into a runnable
// segment.
#ifndef KILN_ENGINE_PLAN_BUILD_CONTEXT_H_
#define KILN_ENGINE_PLAN_BUILD_CONTEXT_H_

#include <functional>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "engine/plan/compiled_segment.h"
#include "engine/plan/ir.h"
#include "oneapi/dnnl/dnnl.hpp"

namespace kiln::engine::plan::internal {

using dnnl::memory;

// A place a value can be read from or written to, in one layout.
struct Slot {
  enum class Kind { kArena, kInput, kOutput, kConstant };
  Kind kind = Kind::kArena;
  memory::desc md;
  int index = -1;        // region (kArena), input or output position
  dnnl::memory constant; // kConstant
};

// A Kiln kernel run as a step: gets the step's memories by DNNL_ARG_*.
using KernelFn = std::function<void(const std::unordered_map<int, dnnl::memory>& args)>;

struct Step {
  dnnl::primitive primitive;  // unset for a kernel step
  std::vector<std::pair<int, int>> args;  // DNNL_ARG_* -> slot
  std::string label;
  bool is_reorder = false;
  KernelFn kernel;  // set: run this instead of the primitive
};

// A span of the arena; aliases of one region share it.
struct Region {
  size_t bytes = 0;
  int first_step = -1;
  int last_step = -1;
  size_t offset = 0;
};

class BuildContext {
 public:
  BuildContext(const Graph& graph, const BuildOptions& options);

  const Graph& graph() const { return graph_; }
  const dnnl::engine& engine() const { return engine_; }
  PlanPrecision precision() const { return precision_; }
  // Whether 3x3 convolutions may take a Winograd algorithm, and whether
  // only where it measures faster (BuildOptions).
  bool winograd_allowed() const { return winograd_ != WinogradUse::kOff; }
  bool winograd_when_faster() const { return winograd_ == WinogradUse::kWhenFaster; }
  void CountWinogradConvolution() { ++winograd_convolutions_; }
  int winograd_convolutions() const { return winograd_convolutions_; }
  // Storage type for the activations of compute-heavy nodes.
  memory::data_type compute_type() const;
  int node_index() const { return node_index_; }
  void set_node_index(int n) { node_index_ = n; }

  int NewArenaSlot(const memory::desc& md);
  // Another view of `slot`'s storage (e.g. a plain tensor read with other
  // dims); the bytes must fit.
  int AliasSlot(int slot, const memory::desc& md);
  int AddInputSlot(int input_index, const memory::desc& md);
  int AddOutputSlot(int output_index, const memory::desc& md);
  int AddConstantSlot(dnnl::memory constant);

  const Slot& slot(int id) const { return slots_[id]; }
  int ValueSlot(int value) const;
  void SetValueSlot(int value, int slot) { value_slot_[value] = slot; }

  // The value's contents in layout `md`: its own slot when the layout is the
  // same, else a reorder into a new slot (made once per value and layout).
  int SlotAs(int value, const memory::desc& md);
  // The value in a dense row-major layout of its dims, with `type`.
  int PlainSlot(int value, memory::data_type type);
  void Reorder(int from_slot, int to_slot, const std::string& label);

  void AddStep(dnnl::primitive primitive, std::vector<std::pair<int, int>> args,
               std::string label);
  void AddKernelStep(KernelFn kernel, std::vector<std::pair<int, int>> args, std::string label);
  // Post-ops as a oneDNN attribute (user scratchpad); binary operands become
  // extra args of the step.
  absl::Status MakeAttr(const std::vector<PostOp>& post_ops, int dst_rank,
                        dnnl::primitive_attr* attr,
                        std::vector<std::pair<int, int>>* extra_args);
  // For a sum post-op: a destination slot already holding `operand` in
  // `dst_md` - the operand's own storage when nothing reads it later, else a
  // copy.
  int SumDestination(int operand, const memory::desc& dst_md);
  void NoteScratchpad(const memory::desc& scratchpad_md);

  // Copies a constant into `target` layout (and type) once, at build time.
  dnnl::memory Prepack(const Constant& constant, const memory::desc& user_md,
                       const memory::desc& target_md);
  size_t weight_bytes() const { return weight_bytes_; }

  // Everything the runtime needs, after the last node.
  std::vector<Slot>& slots() { return slots_; }
  std::vector<Step>& steps() { return steps_; }
  std::vector<Region>& regions() { return regions_; }
  size_t scratchpad_bytes() const { return scratchpad_bytes_; }

 private:
  const Graph& graph_;
  PlanPrecision precision_;
  WinogradUse winograd_;
  int winograd_convolutions_ = 0;
  dnnl::engine engine_;
  dnnl::stream build_stream_;
  std::vector<Slot> slots_;
  std::vector<Step> steps_;
  std::vector<Region> regions_;
  std::vector<int> value_slot_;
  std::vector<int> last_use_;  // node index of each value's last reader
  std::vector<std::pair<int, int>> converted_;  // (value, slot in another layout)
  size_t scratchpad_bytes_ = 0;
  size_t weight_bytes_ = 0;
  int node_index_ = 0;
};

// Plain (row-major) descriptor of `dims`.
memory::desc PlainDesc(const Dims& dims, memory::data_type type);
// Dense channels-last descriptor (nwc, nhwc, ndhwc) of `dims`.
memory::desc ChannelsLastDesc(const Dims& dims, memory::data_type type);
// Dims as oneDNN wants them.
memory::dims ToDnnl(const Dims& dims);
// A short name of a descriptor's layout for reports: "nChw16c", "abcd", ...
std::string LayoutName(const memory::desc& md);
// The oneDNN algorithm chain for a unary function.
struct EltwiseStage {
  dnnl::algorithm algorithm;
  float alpha;
  float beta;
};
std::vector<EltwiseStage> EltwiseStages(const UnaryOp& op);
dnnl::algorithm BinaryAlgorithm(BinaryFn f);

// Per-kind lowerings (lower_*.cc). Each records steps and sets the slot of
// node.output. Unimplemented: no lowering for these attributes.
absl::Status LowerConv(BuildContext& ctx, const Node& node);
absl::Status LowerDeconv(BuildContext& ctx, const Node& node);
// The transposed convolution as a stride-1 convolution, a depth-to-space
// reorder and a crop (subpixel_deconv.h); Unimplemented, with nothing
// recorded, where that form does not apply.
absl::Status LowerDeconvAsSubPixel(BuildContext& ctx, const Node& node);
// A convolution with `conv`'s attributes and `post_ops` reading `src_value`
// into a new slot of `dst_dims` (its layout chosen by oneDNN); returns the
// slot. `what` starts the step's label. `weight_value` >= 0: the weights are
// that value (conv.weight_is_input), reordered on every run.
absl::StatusOr<int> EmitConvolution(BuildContext& ctx, const ConvAttrs& conv,
                                    const std::vector<PostOp>& post_ops, int src_value,
                                    const Dims& dst_dims, const std::string& what,
                                    int weight_value = -1);
// A bf16 3x3 stride-1 convolution as Winograd F(2,3): Kiln's input and
// output transforms (kernels/cpu/winograd_f23.h) around batched oneDNN
// matmuls, a run of tiles at a time, channels last; one step. Returns the
// destination slot; nullopt, with nothing recorded, where it does not apply
// (precision, shape, post-ops other than a residual sum and a relu,
// BuildOptions) or does not measure at least 10 % faster than what
// `make_direct` returns (a run of the direct convolution, its input reorder
// included; made only when Winograd applies).
std::optional<int> EmitWinogradBf16Convolution(
    BuildContext& ctx, const ConvAttrs& conv, const std::vector<PostOp>& post_ops, int src_value,
    const Dims& dst_dims, const std::function<std::function<void()>()>& make_direct);
absl::Status LowerLinear(BuildContext& ctx, const Node& node);
absl::Status LowerMatmul(BuildContext& ctx, const Node& node);
absl::Status LowerEltwise(BuildContext& ctx, const Node& node);
absl::Status LowerBinary(BuildContext& ctx, const Node& node);
absl::Status LowerPool(BuildContext& ctx, const Node& node);
absl::Status LowerSoftmax(BuildContext& ctx, const Node& node);
absl::Status LowerBatchNorm(BuildContext& ctx, const Node& node);
absl::Status LowerInstanceNorm(BuildContext& ctx, const Node& node);
absl::Status LowerResample(BuildContext& ctx, const Node& node);
absl::Status LowerReshape(BuildContext& ctx, const Node& node);
absl::Status LowerPermute(BuildContext& ctx, const Node& node);
absl::Status LowerConcat(BuildContext& ctx, const Node& node);
absl::Status LowerSlice(BuildContext& ctx, const Node& node);
absl::Status LowerPrelu(BuildContext& ctx, const Node& node);
absl::Status LowerPixelShuffle(BuildContext& ctx, const Node& node);
absl::Status LowerChannelShuffle(BuildContext& ctx, const Node& node);

}  // namespace kiln::engine::plan::internal

#endif  // KILN_ENGINE_PLAN_BUILD_CONTEXT_H_

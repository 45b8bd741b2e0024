#include "engine/plan/compiled_segment.h"

#include <algorithm>
#include <cstdlib>
#include <mutex>

#include "absl/strings/str_cat.h"
#include "engine/plan/build_context.h"

namespace kiln::engine::plan {

using internal::BuildContext;
using internal::Region;
using internal::Slot;
using internal::Step;

const char* PlanPrecisionName(PlanPrecision p) {
  return p == PlanPrecision::kBf16 ? "bf16" : "fp32";
}

bool CpuHasNativeBf16() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx512bf16") || __builtin_cpu_supports("amx-bf16");
}

namespace {

constexpr size_t kAlignment = 64;

size_t AlignUp(size_t n) { return (n + kAlignment - 1) / kAlignment * kAlignment; }

absl::Status LowerNode(BuildContext& ctx, const Node& node) {
  switch (node.kind) {
    case OpKind::kConv: return internal::LowerConv(ctx, node);
    case OpKind::kDeconv: return internal::LowerDeconv(ctx, node);
    case OpKind::kLinear: return internal::LowerLinear(ctx, node);
    case OpKind::kMatmul: return internal::LowerMatmul(ctx, node);
    case OpKind::kEltwise: return internal::LowerEltwise(ctx, node);
    case OpKind::kBinary: return internal::LowerBinary(ctx, node);
    case OpKind::kPool: return internal::LowerPool(ctx, node);
    case OpKind::kReshape: return internal::LowerReshape(ctx, node);
    case OpKind::kPermute: return internal::LowerPermute(ctx, node);
    case OpKind::kConcat: return internal::LowerConcat(ctx, node);
    case OpKind::kSoftmax: return internal::LowerSoftmax(ctx, node);
    case OpKind::kBatchNorm: return internal::LowerBatchNorm(ctx, node);
    case OpKind::kResample: return internal::LowerResample(ctx, node);
    case OpKind::kPixelShuffle: return internal::LowerPixelShuffle(ctx, node);
    case OpKind::kChannelShuffle: return internal::LowerChannelShuffle(ctx, node);
    case OpKind::kInstanceNorm: return internal::LowerInstanceNorm(ctx, node);
    case OpKind::kSlice: return internal::LowerSlice(ctx, node);
    case OpKind::kPrelu: return internal::LowerPrelu(ctx, node);
    case OpKind::kReduceMean: break;
  }
  return absl::UnimplementedError(absl::StrCat("no lowering for ", OpKindName(node.kind)));
}

// Gives each region an arena offset so that regions alive at the same time
// never overlap: largest first, each at the lowest offset that fits.
size_t PlaceRegions(std::vector<Region>& regions) {
  std::vector<int> order;
  for (size_t r = 0; r < regions.size(); ++r) {
    if (regions[r].first_step >= 0) order.push_back(static_cast<int>(r));
  }
  std::stable_sort(order.begin(), order.end(),
                   [&](int a, int b) { return regions[a].bytes > regions[b].bytes; });
  std::vector<int> placed;
  size_t total = 0;
  for (int r : order) {
    Region& region = regions[r];
    std::vector<std::pair<size_t, size_t>> busy;  // [begin, end) of live neighbours
    for (int p : placed) {
      const Region& other = regions[p];
      const bool overlap_in_time = !(other.last_step < region.first_step ||
                                     region.last_step < other.first_step);
      if (overlap_in_time) busy.push_back({other.offset, other.offset + AlignUp(other.bytes)});
    }
    std::sort(busy.begin(), busy.end());
    size_t offset = 0;
    for (const auto& [begin, end] : busy) {
      if (offset + AlignUp(region.bytes) <= begin) break;
      offset = std::max(offset, end);
    }
    region.offset = offset;
    total = std::max(total, offset + AlignUp(region.bytes));
    placed.push_back(r);
  }
  return total;
}

struct Arena {
  void* buffer = nullptr;
  std::vector<dnnl::memory> memories;  // per slot
  std::vector<std::unordered_map<int, dnnl::memory>> step_args;
  dnnl::stream stream;
  ~Arena() { std::free(buffer); }
};

}  // namespace

struct CompiledSegment::Impl {
  dnnl::engine engine;
  std::vector<Slot> slots;
  std::vector<Step> steps;
  std::vector<Region> regions;
  size_t arena_bytes = 0;
  size_t scratchpad_bytes = 0;
  std::vector<Dims> input_dims, output_dims;
  std::vector<int> input_slots, output_slots;  // every slot reading a given input/output
  SegmentReport report;

  mutable std::mutex pool_mutex;
  mutable std::vector<std::unique_ptr<Arena>> pool;

  std::unique_ptr<Arena> MakeArena() const {
    auto arena = std::make_unique<Arena>();
    const size_t bytes = AlignUp(arena_bytes) + AlignUp(scratchpad_bytes) + kAlignment;
    arena->buffer = std::aligned_alloc(kAlignment, bytes);
    char* base = static_cast<char*>(arena->buffer);
    for (const Slot& s : slots) {
      switch (s.kind) {
        case Slot::Kind::kArena:
          arena->memories.emplace_back(s.md, engine, base + regions[s.index].offset);
          break;
        case Slot::Kind::kConstant:
          arena->memories.push_back(s.constant);
          break;
        default:  // bound per run
          arena->memories.emplace_back(s.md, engine, nullptr);
      }
    }
    dnnl::memory scratchpad;
    if (scratchpad_bytes > 0) {
      scratchpad = dnnl::memory(
          dnnl::memory::desc({static_cast<int64_t>(scratchpad_bytes)},
                             dnnl::memory::data_type::u8, dnnl::memory::format_tag::a),
          engine, base + AlignUp(arena_bytes));
    }
    for (const Step& step : steps) {
      std::unordered_map<int, dnnl::memory> args;
      for (const auto& [arg, slot] : step.args) args[arg] = arena->memories[slot];
      if (scratchpad_bytes > 0 && !step.is_reorder) args[DNNL_ARG_SCRATCHPAD] = scratchpad;
      arena->step_args.push_back(std::move(args));
    }
    arena->stream = dnnl::stream(engine);
    return arena;
  }
};

CompiledSegment::CompiledSegment(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
CompiledSegment::~CompiledSegment() = default;

const std::vector<Dims>& CompiledSegment::input_dims() const { return impl_->input_dims; }
const std::vector<Dims>& CompiledSegment::output_dims() const { return impl_->output_dims; }
const SegmentReport& CompiledSegment::report() const { return impl_->report; }

absl::StatusOr<std::unique_ptr<CompiledSegment>> CompiledSegment::Build(
    const Graph& graph, const BuildOptions& options) {
  if (graph.inputs.empty() || graph.outputs.empty()) {
    return absl::InvalidArgumentError("a segment needs inputs and outputs");
  }
  auto impl = std::make_unique<Impl>();
  try {
    BuildContext ctx(graph, options);
    for (size_t i = 0; i < graph.inputs.size(); ++i) {
      const Dims& dims = graph.values[graph.inputs[i]].dims;
      impl->input_dims.push_back(dims);
      ctx.SetValueSlot(graph.inputs[i], ctx.AddInputSlot(static_cast<int>(i),
                                                         internal::PlainDesc(dims, dnnl::memory::data_type::f32)));
    }
    for (size_t n = 0; n < graph.nodes.size(); ++n) {
      ctx.set_node_index(static_cast<int>(n));
      absl::Status status = LowerNode(ctx, graph.nodes[n]);
      if (!status.ok()) {
        return absl::Status(status.code(), absl::StrCat(graph.nodes[n].origin, ": ",
                                                        status.message()));
      }
    }
    for (size_t o = 0; o < graph.outputs.size(); ++o) {
      const int v = graph.outputs[o];
      const Dims& dims = graph.values[v].dims;
      impl->output_dims.push_back(dims);
      const int out = ctx.AddOutputSlot(static_cast<int>(o),
                                        internal::PlainDesc(dims, dnnl::memory::data_type::f32));
      ctx.Reorder(ctx.ValueSlot(v), out, absl::StrCat("output %", v));
    }
    // Liveness of each region: the steps touching any of its slots.
    for (size_t s = 0; s < ctx.steps().size(); ++s) {
      for (const auto& [arg, slot] : ctx.steps()[s].args) {
        const Slot& info = ctx.slot(slot);
        if (info.kind != Slot::Kind::kArena) continue;
        Region& r = ctx.regions()[info.index];
        if (r.first_step < 0) r.first_step = static_cast<int>(s);
        r.last_step = std::max(r.last_step, static_cast<int>(s));
      }
    }
    impl->engine = ctx.engine();
    impl->arena_bytes = PlaceRegions(ctx.regions());
    impl->scratchpad_bytes = ctx.scratchpad_bytes();
    impl->slots = std::move(ctx.slots());
    impl->steps = std::move(ctx.steps());
    impl->regions = std::move(ctx.regions());
    impl->report.weight_bytes = ctx.weight_bytes();
    impl->report.winograd_convolutions = ctx.winograd_convolutions();
  } catch (const dnnl::error& e) {
    if (e.status == dnnl_unimplemented) {
      return absl::UnimplementedError(absl::StrCat("oneDNN has no implementation: ", e.what()));
    }
    return absl::InternalError(absl::StrCat("oneDNN: ", e.what()));
  }
  for (size_t s = 0; s < impl->slots.size(); ++s) {
    if (impl->slots[s].kind == Slot::Kind::kInput) impl->input_slots.push_back(s);
    if (impl->slots[s].kind == Slot::Kind::kOutput) impl->output_slots.push_back(s);
  }
  impl->report.steps = static_cast<int>(impl->steps.size());
  for (const Step& step : impl->steps) {
    impl->report.reorders += step.is_reorder;
    impl->report.step_labels.push_back(step.label);
  }
  impl->report.arena_bytes = impl->arena_bytes + impl->scratchpad_bytes;
  return std::unique_ptr<CompiledSegment>(new CompiledSegment(std::move(impl)));
}

absl::Status CompiledSegment::Run(const std::vector<const float*>& inputs,
                                  const std::vector<float*>& outputs) const {
  if (inputs.size() != impl_->input_dims.size() || outputs.size() != impl_->output_dims.size()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "segment takes ", impl_->input_dims.size(), " inputs and ", impl_->output_dims.size(),
        " outputs; got ", inputs.size(), " and ", outputs.size()));
  }
  std::unique_ptr<Arena> arena;
  {
    std::lock_guard<std::mutex> lock(impl_->pool_mutex);
    if (!impl_->pool.empty()) {
      arena = std::move(impl_->pool.back());
      impl_->pool.pop_back();
    }
  }
  try {
    if (!arena) arena = impl_->MakeArena();
    for (int s : impl_->input_slots) {
      arena->memories[s].set_data_handle(const_cast<float*>(inputs[impl_->slots[s].index]));
    }
    for (int s : impl_->output_slots) {
      arena->memories[s].set_data_handle(outputs[impl_->slots[s].index]);
    }
    for (size_t i = 0; i < impl_->steps.size(); ++i) {
      const Step& step = impl_->steps[i];
      if (step.kernel) {
        // CPU primitives run synchronously on this thread, so a Kiln kernel
        // between two of them sees its inputs written.
        step.kernel(arena->step_args[i]);
      } else {
        step.primitive.execute(arena->stream, arena->step_args[i]);
      }
    }
    arena->stream.wait();
  } catch (const dnnl::error& e) {
    return absl::InternalError(absl::StrCat("oneDNN at run time: ", e.what()));
  }
  std::lock_guard<std::mutex> lock(impl_->pool_mutex);
  impl_->pool.push_back(std::move(arena));
  return absl::OkStatus();
}

}  // namespace kiln::engine::plan

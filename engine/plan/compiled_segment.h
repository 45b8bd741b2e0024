// A segment compiled for fixed input shapes: oneDNN primitives in order,
// weights prepacked into the layouts the primitives chose, and a static
// memory plan. Running it allocates nothing: intermediate values live in an
// arena taken from a pool (one arena per concurrent run, reused).
//
// Thread safety: Run may be called from many threads at once; each call takes
// its own arena. oneDNN uses the calling thread's OpenMP thread count.
#ifndef KILN_ENGINE_PLAN_COMPILED_SEGMENT_H_
#define KILN_ENGINE_PLAN_COMPILED_SEGMENT_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/plan/ir.h"

namespace kiln::engine::plan {

enum class PlanPrecision {
  kFp32,
  // Convolutions and matmuls compute in bf16 (fp32 accumulation) and keep
  // their activations in bf16; inputs and outputs stay fp32.
  kBf16,
};
const char* PlanPrecisionName(PlanPrecision p);

// True when this CPU runs bf16 convolutions and matmuls natively
// (AVX512_BF16 or AMX), detected at run time.
bool CpuHasNativeBf16();

// Whether 3x3 stride-1 convolutions take the Winograd algorithm (oneDNN's
// for fp32, Kiln's F(2,3) for bf16): where it measures faster at build time
// (the default), nowhere (the rebuild of a plan that failed its accuracy
// check with it: Winograd rounds differently from a direct convolution), or
// wherever an implementation applies (tests).
enum class WinogradUse { kWhenFaster, kOff, kAlways };

struct BuildOptions {
  PlanPrecision precision = PlanPrecision::kFp32;
  WinogradUse winograd = WinogradUse::kWhenFaster;
};

struct SegmentReport {
  int steps = 0;       // primitives run per call, reorders included
  int reorders = 0;    // layout or precision conversions among them
  int winograd_convolutions = 0;
  size_t arena_bytes = 0;
  size_t weight_bytes = 0;
  std::vector<std::string> step_labels;  // "conv 1x64x56x56 nChw16c +relu"
};

class CompiledSegment {
 public:
  // Errors: Unimplemented when a node has no lowering for its attributes
  // (the caller leaves the segment to TorchScript); InvalidArgument for a
  // malformed graph; Internal when oneDNN refuses.
  static absl::StatusOr<std::unique_ptr<CompiledSegment>> Build(
      const Graph& graph, const BuildOptions& options);
  ~CompiledSegment();

  const std::vector<Dims>& input_dims() const;
  const std::vector<Dims>& output_dims() const;
  const SegmentReport& report() const;

  // inputs[i]: dense row-major fp32 data of input_dims()[i]; outputs[i]:
  // caller-allocated dense row-major fp32 buffers of output_dims()[i].
  // Errors: Internal when oneDNN fails at run time.
  absl::Status Run(const std::vector<const float*>& inputs,
                   const std::vector<float*>& outputs) const;

  struct Impl;

 private:
  explicit CompiledSegment(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace kiln::engine::plan

#endif  // KILN_ENGINE_PLAN_COMPILED_SEGMENT_H_

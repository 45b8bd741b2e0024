// Build-time measurement of candidate implementations of one step, for
// choices no rule makes reliably across CPUs (Winograd or direct
// convolution). Candidates run on made-up data on the calling thread's
// OpenMP team (the plan's own thread count).
#ifndef KILN_ENGINE_PLAN_PRIMITIVE_TIMER_H_
#define KILN_ENGINE_PLAN_PRIMITIVE_TIMER_H_

#include <functional>
#include <utility>
#include <vector>

#include "oneapi/dnnl/dnnl.hpp"

namespace kiln::engine::plan::internal {

// One run of a candidate.
using Candidate = std::function<void()>;

// A buffer of `md`'s size filled with a small constant (0.0115 as fp32 and as
// bf16: no denormals, no NaN), for timing on made-up data.
dnnl::memory ScratchMemory(const dnnl::memory::desc& md, const dnnl::engine& engine);

// The primitive on ScratchMemory buffers (owned by the candidate): `args`
// maps each DNNL_ARG_* it reads or writes to its descriptor; a zero
// descriptor is skipped.
Candidate PrimitiveCandidate(const dnnl::primitive& primitive,
                             const std::vector<std::pair<int, dnnl::memory::desc>>& args,
                             const dnnl::engine& engine);

// A reorder from layout `from` to `to` (nothing when they are the same): a
// candidate whose input or output is in another layout than its neighbours
// use pays for the copies.
Candidate ReorderCandidate(const dnnl::memory::desc& from, const dnnl::memory::desc& to,
                           const dnnl::engine& engine);

// The candidates one after the other.
Candidate Sequence(std::vector<Candidate> candidates);

// Whether `challenger` takes less than `margin` times what `incumbent` does:
// the best of `runs` calls of each, made alternately after one warm-up of
// each, so that a slow spell of a shared machine weighs on both. When a
// warm-up alone takes more than `single_run_above_ms`, the warm-ups decide
// (large layers are measured once: the choice is clear and compile time
// matters).
bool MeasuresFaster(const Candidate& challenger, const Candidate& incumbent, double margin,
                    int runs = 5, double single_run_above_ms = 20.0);

}  // namespace kiln::engine::plan::internal

#endif  // KILN_ENGINE_PLAN_PRIMITIVE_TIMER_H_

// Build-time measurement of a oneDNN primitive or of a sequence of steps, for
// choices between implementations no rule picks reliably across CPUs
// (Winograd or direct convolution).
#ifndef KILN_ENGINE_PLAN_PRIMITIVE_TIMER_H_
#define KILN_ENGINE_PLAN_PRIMITIVE_TIMER_H_

#include <functional>
#include <utility>
#include <vector>

#include "oneapi/dnnl/dnnl.hpp"

namespace kiln::engine::plan::internal {

// Best of `runs` calls of `run` after one warm-up, in milliseconds, on the
// calling thread's OpenMP team (the plan's own thread count). When the
// warm-up alone takes more than `single_run_above_ms`, its time is the answer
// (large layers are measured once: the choice is clear and compile time
// matters).
double BestRunMs(const std::function<void()>& run, int runs, double single_run_above_ms = 20.0);

// A buffer of `md`'s size filled with a small constant (0.0115 as fp32 and as
// bf16: no denormals, no NaN), for timing on made-up data.
dnnl::memory ScratchMemory(const dnnl::memory::desc& md, const dnnl::engine& engine);

// The primitive on ScratchMemory buffers: `args` maps each DNNL_ARG_* it
// reads or writes to its descriptor; a zero descriptor is skipped.
double BestRunMs(const dnnl::primitive& primitive,
                 const std::vector<std::pair<int, dnnl::memory::desc>>& args,
                 const dnnl::engine& engine, int runs, double single_run_above_ms = 20.0);

}  // namespace kiln::engine::plan::internal

#endif  // KILN_ENGINE_PLAN_PRIMITIVE_TIMER_H_

// Helpers shared by the plan's IR and numeric tests.
#ifndef KILN_ENGINE_PLAN_PLAN_TEST_UTIL_H_
#define KILN_ENGINE_PLAN_PLAN_TEST_UTIL_H_

#include <vector>

#include "engine/plan/compiled_segment.h"
#include "engine/plan/ir.h"

namespace kiln::engine::plan {

// Normal(0, stddev) values, fixed per seed.
Constant RandomConstant(Dims dims, int seed, float stddev = 0.3f);

// Compiles `g` (one input, one output) and runs it on sin(0.37 * i); the
// output, or empty after a failed expectation.
std::vector<float> RunSegment(const Graph& g, PlanPrecision precision = PlanPrecision::kFp32);

}  // namespace kiln::engine::plan

#endif  // KILN_ENGINE_PLAN_PLAN_TEST_UTIL_H_

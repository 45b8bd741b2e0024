#include "engine/plan/plan_test_util.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>

namespace kiln::engine::plan {

Constant RandomConstant(Dims dims, int seed, float stddev) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0, stddev);
  int64_t n = 1;
  for (int64_t d : dims) n *= d;
  std::vector<float> v(n);
  for (float& x : v) x = normal(rng);
  return Constant::Own(std::move(dims), std::move(v));
}

std::vector<float> RunSegment(const Graph& g, PlanPrecision precision) {
  auto segment = CompiledSegment::Build(g, BuildOptions{precision});
  EXPECT_TRUE(segment.ok()) << segment.status();
  if (!segment.ok()) return {};
  int64_t in_n = 1, out_n = 1;
  for (int64_t d : (*segment)->input_dims()[0]) in_n *= d;
  for (int64_t d : (*segment)->output_dims()[0]) out_n *= d;
  std::vector<float> input(in_n), output(out_n);
  for (int64_t i = 0; i < in_n; ++i) input[i] = std::sin(0.37f * i);
  EXPECT_TRUE((*segment)->Run({input.data()}, {output.data()}).ok());
  return output;
}

}  // namespace kiln::engine::plan

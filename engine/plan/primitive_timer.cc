#include "engine/plan/primitive_timer.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <unordered_map>

namespace kiln::engine::plan::internal {

double BestRunMs(const std::function<void()>& run, int runs, double single_run_above_ms) {
  auto run_once = [&] {
    const auto start = std::chrono::steady_clock::now();
    run();
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
        .count();
  };
  const double warm_up = run_once();
  if (warm_up > single_run_above_ms) return warm_up;
  double best = 1e300;
  for (int i = 0; i < std::max(1, runs); ++i) best = std::min(best, run_once());
  return best;
}

dnnl::memory ScratchMemory(const dnnl::memory::desc& md, const dnnl::engine& engine) {
  dnnl::memory m(md, engine);
  std::memset(m.get_data_handle(), 0x3c, md.get_size());
  return m;
}

double BestRunMs(const dnnl::primitive& primitive,
                 const std::vector<std::pair<int, dnnl::memory::desc>>& args,
                 const dnnl::engine& engine, int runs, double single_run_above_ms) {
  dnnl::stream stream(engine);
  std::unordered_map<int, dnnl::memory> memories;
  for (const auto& [arg, md] : args) {
    if (!md.is_zero()) memories.emplace(arg, ScratchMemory(md, engine));
  }
  return BestRunMs(
      [&] {
        primitive.execute(stream, memories);
        stream.wait();
      },
      runs, single_run_above_ms);
}

}  // namespace kiln::engine::plan::internal

#include "engine/plan/primitive_timer.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <memory>
#include <unordered_map>

namespace kiln::engine::plan::internal {
namespace {

double TimeMs(const Candidate& run) {
  const auto start = std::chrono::steady_clock::now();
  run();
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
      .count();
}

}  // namespace

dnnl::memory ScratchMemory(const dnnl::memory::desc& md, const dnnl::engine& engine) {
  dnnl::memory m(md, engine);
  std::memset(m.get_data_handle(), 0x3c, md.get_size());
  return m;
}

Candidate PrimitiveCandidate(const dnnl::primitive& primitive,
                             const std::vector<std::pair<int, dnnl::memory::desc>>& args,
                             const dnnl::engine& engine) {
  auto memories = std::make_shared<std::unordered_map<int, dnnl::memory>>();
  for (const auto& [arg, md] : args) {
    if (!md.is_zero()) memories->emplace(arg, ScratchMemory(md, engine));
  }
  auto stream = std::make_shared<dnnl::stream>(engine);
  return [primitive, memories, stream] {
    primitive.execute(*stream, *memories);
    stream->wait();
  };
}

Candidate ReorderCandidate(const dnnl::memory::desc& from, const dnnl::memory::desc& to,
                           const dnnl::engine& engine) {
  if (from == to) return [] {};
  return PrimitiveCandidate(dnnl::reorder(dnnl::reorder::primitive_desc(engine, from, engine, to)),
                            {{DNNL_ARG_FROM, from}, {DNNL_ARG_TO, to}}, engine);
}

Candidate Sequence(std::vector<Candidate> candidates) {
  return [candidates = std::move(candidates)] {
    for (const Candidate& c : candidates) c();
  };
}

bool MeasuresFaster(const Candidate& challenger, const Candidate& incumbent, double margin,
                    int runs, double single_run_above_ms) {
  double challenger_ms = TimeMs(challenger), incumbent_ms = TimeMs(incumbent);
  if (std::max(challenger_ms, incumbent_ms) <= single_run_above_ms) {
    challenger_ms = incumbent_ms = 1e300;
    for (int i = 0; i < std::max(1, runs); ++i) {
      challenger_ms = std::min(challenger_ms, TimeMs(challenger));
      incumbent_ms = std::min(incumbent_ms, TimeMs(incumbent));
    }
  }
  return challenger_ms < margin * incumbent_ms;
}

}  // namespace kiln::engine::plan::internal

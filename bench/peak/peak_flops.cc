// Measures this machine's fp32 (and, where AVX512_BF16 exists, bf16) FMA
// peak on N threads: the denominator of the bench table's roofline column.
//
// Built with plain `g++ -O2` (no -march): each kernel carries its own target
// attribute and the ISA is chosen at run time, so one binary is right on any
// x86-64 machine the bench runs on.
//
// Usage: peak_flops [--threads N] [--seconds S] [--isa avx512f|avx2] [--json]
// (--isa forces the fp32 loop's ISA, e.g. to compare 256- and 512-bit FMA.)

#include <immintrin.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

namespace {

// Enough independent accumulator chains to cover FMA latency (4-5 cycles)
// times the FMA ports (2) on current x86 cores; fewer chains would measure
// latency, not throughput.
constexpr int kChains = 16;
constexpr long kItersPerBlock = 1 << 16;

// The multiplier and addend keep every chain bounded (x -> x*a + b converges
// to b/(1-a)), so no chain runs into infinities or denormals, which would
// slow the FMA units and understate the peak.
__attribute__((target("avx512f"))) float Fp32Avx512(long blocks) {
  __m512 acc[kChains];
  for (int i = 0; i < kChains; ++i) acc[i] = _mm512_set1_ps(0.001f * i);
  const __m512 a = _mm512_set1_ps(0.999999f);
  const __m512 b = _mm512_set1_ps(1e-6f);
  for (long blk = 0; blk < blocks; ++blk) {
    for (long it = 0; it < kItersPerBlock; ++it) {
#pragma GCC unroll 16
      for (int i = 0; i < kChains; ++i) acc[i] = _mm512_fmadd_ps(acc[i], a, b);
    }
  }
  __m512 sum = acc[0];
  for (int i = 1; i < kChains; ++i) sum = _mm512_add_ps(sum, acc[i]);
  float lanes[16];
  _mm512_storeu_ps(lanes, sum);
  float s = 0;
  for (float v : lanes) s += v;
  return s;
}

__attribute__((target("avx2,fma"))) float Fp32Avx2(long blocks) {
  __m256 acc[kChains];
  for (int i = 0; i < kChains; ++i) acc[i] = _mm256_set1_ps(0.001f * i);
  const __m256 a = _mm256_set1_ps(0.999999f);
  const __m256 b = _mm256_set1_ps(1e-6f);
  for (long blk = 0; blk < blocks; ++blk) {
    for (long it = 0; it < kItersPerBlock; ++it) {
#pragma GCC unroll 16
      for (int i = 0; i < kChains; ++i) acc[i] = _mm256_fmadd_ps(acc[i], a, b);
    }
  }
  __m256 sum = acc[0];
  for (int i = 1; i < kChains; ++i) sum = _mm256_add_ps(sum, acc[i]);
  float lanes[8];
  _mm256_storeu_ps(lanes, sum);
  float s = 0;
  for (float v : lanes) s += v;
  return s;
}

// vdpbf16ps: 32 bf16 products summed pairwise into 16 fp32 lanes, i.e. 64
// FLOPs per instruction. Operands are small bf16 values so the fp32
// accumulators stay finite over billions of steps.
__attribute__((target("avx512bf16,avx512f"))) float Bf16Avx512(long blocks) {
  __m512 acc[kChains];
  for (int i = 0; i < kChains; ++i) acc[i] = _mm512_setzero_ps();
  const __m512bh x = _mm512_cvtne2ps_pbh(_mm512_set1_ps(1e-4f), _mm512_set1_ps(1e-4f));
  const __m512bh y = _mm512_cvtne2ps_pbh(_mm512_set1_ps(1e-4f), _mm512_set1_ps(1e-4f));
  for (long blk = 0; blk < blocks; ++blk) {
    for (long it = 0; it < kItersPerBlock; ++it) {
#pragma GCC unroll 16
      for (int i = 0; i < kChains; ++i) acc[i] = _mm512_dpbf16_ps(acc[i], x, y);
    }
  }
  __m512 sum = acc[0];
  for (int i = 1; i < kChains; ++i) sum = _mm512_add_ps(sum, acc[i]);
  float lanes[16];
  _mm512_storeu_ps(lanes, sum);
  float s = 0;
  for (float v : lanes) s += v;
  return s;
}

using Kernel = float (*)(long);

std::atomic<float> g_sink{0};

// Runs `kernel` on `threads` threads for `blocks` blocks each and returns the
// wall time in seconds: all threads start together, the slowest ends the run.
double TimeOnThreads(Kernel kernel, int threads, long blocks) {
  std::atomic<int> ready{0};
  std::atomic<bool> go{false};
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&] {
      ready.fetch_add(1);
      while (!go.load(std::memory_order_acquire)) {
      }
      float r = kernel(blocks);
      g_sink.store(r, std::memory_order_relaxed);
    });
  }
  while (ready.load() < threads) {
  }
  auto t0 = std::chrono::steady_clock::now();
  go.store(true, std::memory_order_release);
  for (auto& th : pool) th.join();
  auto t1 = std::chrono::steady_clock::now();
  return std::chrono::duration<double>(t1 - t0).count();
}

// Best of several timed repetitions, each sized to last about `seconds`: the
// best one is the least disturbed by other processes on a shared machine.
double MeasureGflops(Kernel kernel, double flops_per_iter, int threads, double seconds) {
  long blocks = 1;
  // Calibrate the block count on one short run.
  for (;;) {
    double t = TimeOnThreads(kernel, threads, blocks);
    if (t > 0.05) {
      blocks = std::max(1L, static_cast<long>(blocks * seconds / t));
      break;
    }
    blocks *= 2;
  }
  double best = 0;
  for (int rep = 0; rep < 5; ++rep) {
    double t = TimeOnThreads(kernel, threads, blocks);
    double gflops = flops_per_iter * kItersPerBlock * blocks * threads / t / 1e9;
    best = std::max(best, gflops);
  }
  return best;
}

}  // namespace

int main(int argc, char** argv) {
  int threads = 2;
  double seconds = 0.3;
  bool json = false;
  std::string force_isa;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--threads") && i + 1 < argc) {
      threads = std::atoi(argv[++i]);
    } else if (!std::strcmp(argv[i], "--seconds") && i + 1 < argc) {
      seconds = std::atof(argv[++i]);
    } else if (!std::strcmp(argv[i], "--isa") && i + 1 < argc) {
      force_isa = argv[++i];
    } else if (!std::strcmp(argv[i], "--json")) {
      json = true;
    } else {
      std::fprintf(stderr, "usage: %s [--threads N] [--seconds S] [--isa avx512f|avx2] [--json]\n",
                   argv[0]);
      return 2;
    }
  }
  if (threads < 1) threads = 1;

  __builtin_cpu_init();
  std::string isa;
  double fp32 = 0;
  bool avx512 = __builtin_cpu_supports("avx512f");
  bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  if (force_isa == "avx2") avx512 = false;
  if (force_isa == "avx512f" && !avx512) {
    std::fprintf(stderr, "peak_flops: AVX-512F is not available\n");
    return 1;
  }
  if (avx512) {
    isa = "avx512f";
    fp32 = MeasureGflops(Fp32Avx512, kChains * 16 * 2.0, threads, seconds);
  } else if (avx2) {
    isa = "avx2+fma";
    fp32 = MeasureGflops(Fp32Avx2, kChains * 8 * 2.0, threads, seconds);
  } else {
    std::fprintf(stderr, "peak_flops: neither AVX-512F nor AVX2+FMA is available\n");
    return 1;
  }
  bool has_bf16 = __builtin_cpu_supports("avx512bf16") && __builtin_cpu_supports("avx512f");
  double bf16 = has_bf16 ? MeasureGflops(Bf16Avx512, kChains * 32 * 2.0, threads, seconds) : 0;

  if (json) {
    std::printf("{\"threads\": %d, \"isa\": \"%s\", \"fp32_gflops\": %.1f, ", threads,
                isa.c_str(), fp32);
    if (has_bf16) {
      std::printf("\"bf16_gflops\": %.1f}\n", bf16);
    } else {
      std::printf("\"bf16_gflops\": null}\n");
    }
  } else {
    std::printf("threads: %d\nisa: %s\nfp32 GFLOP/s: %.1f\n", threads, isa.c_str(), fp32);
    if (has_bf16) {
      std::printf("bf16 GFLOP/s: %.1f\n", bf16);
    } else {
      std::printf("bf16 GFLOP/s: n/a (no AVX512_BF16)\n");
    }
  }
  return 0;
}

// Run-time CPU feature checks the kernels dispatch on.
#ifndef KILN_KERNELS_CPU_CPU_FEATURES_H_
#define KILN_KERNELS_CPU_CPU_FEATURES_H_

namespace kiln::kernels::cpu {

// AVX512F, BW and VL: what the kernels' AVX-512 bodies are built with.
// Checked once.
inline bool CpuHasAvx512Core() {
  static const bool has = [] {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx512vl");
  }();
  return has;
}

}  // namespace kiln::kernels::cpu

#endif  // KILN_KERNELS_CPU_CPU_FEATURES_H_

// PReLU, y = x > 0 ? x : slope[channel] * x, over activations in the three
// layouts a plan keeps them in, fp32 or bf16.
//
// The data is viewed as [outer][groups][inner][lanes] (dense, row-major);
// element (o, g, i, l) belongs to channel g * lanes + l:
//   channels first (nchw):    outer N,       groups C,       inner H*W, lanes 1
//   channels last (nhwc):     outer N*H*W,   groups 1,       inner 1,   lanes C
//   blocked (nChw16c):        outer N,       groups C/16,    inner H*W, lanes 16
// `slopes` holds groups * lanes values (a single shared slope is expanded by
// the caller; a blocked layout's padding channels take any value).
//
// Prelu picks the AVX-512 body when the CPU has AVX512F, BW and VL (checked
// once, at run time), else the scalar reference; both round bf16 results to
// nearest even and give NaN for NaN. `src` and `dst` may be the same buffer.
// Threads: OpenMP, as many as the calling thread's team size allows.
#ifndef KILN_KERNELS_CPU_PRELU_H_
#define KILN_KERNELS_CPU_PRELU_H_

#include <cstdint>

#include "kernels/cpu/element_type.h"

namespace kiln::kernels::cpu {

struct PreluShape {
  int64_t outer = 1;
  int64_t groups = 1;
  int64_t inner = 1;
  int64_t lanes = 1;
  int64_t elements() const { return outer * groups * inner * lanes; }
};

void Prelu(const void* src, void* dst, ElementType type, const PreluShape& shape,
           const float* slopes);

// The scalar reference (what the tests and the fallback run).
void PreluReference(const void* src, void* dst, ElementType type, const PreluShape& shape,
                    const float* slopes);

// Whether Prelu runs the AVX-512 body on this CPU.
bool PreluUsesAvx512();

}  // namespace kiln::kernels::cpu

#endif  // KILN_KERNELS_CPU_PRELU_H_

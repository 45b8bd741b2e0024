// Dispatch and the scalar reference; the AVX-512 body is in prelu_avx512.cc,
// the only file built with AVX-512 enabled.
#include "kernels/cpu/prelu.h"

#include "kernels/cpu/bf16.h"
#include "kernels/cpu/cpu_features.h"

namespace kiln::kernels::cpu {

void PreluAvx512(const void* src, void* dst, ElementType type, const PreluShape& shape,
                 const float* slopes);

namespace {

template <typename Load, typename Store>
void ReferenceLoop(const PreluShape& s, const float* slopes, Load load, Store store) {
#pragma omp parallel for collapse(2) schedule(static)
  for (int64_t o = 0; o < s.outer; ++o) {
    for (int64_t g = 0; g < s.groups; ++g) {
      for (int64_t i = 0; i < s.inner; ++i) {
        const int64_t base = ((o * s.groups + g) * s.inner + i) * s.lanes;
        for (int64_t l = 0; l < s.lanes; ++l) {
          const float x = load(base + l);
          store(base + l, x > 0 ? x : slopes[g * s.lanes + l] * x);
        }
      }
    }
  }
}

}  // namespace

void PreluReference(const void* src, void* dst, ElementType type, const PreluShape& shape,
                    const float* slopes) {
  if (type == ElementType::kF32) {
    const float* in = static_cast<const float*>(src);
    float* out = static_cast<float*>(dst);
    ReferenceLoop(shape, slopes, [&](int64_t i) { return in[i]; },
                  [&](int64_t i, float v) { out[i] = v; });
  } else {
    const uint16_t* in = static_cast<const uint16_t*>(src);
    uint16_t* out = static_cast<uint16_t*>(dst);
    ReferenceLoop(shape, slopes, [&](int64_t i) { return Bf16ToFloat(in[i]); },
                  [&](int64_t i, float v) { out[i] = FloatToBf16(v); });
  }
}

bool PreluUsesAvx512() { return CpuHasAvx512Core(); }

void Prelu(const void* src, void* dst, ElementType type, const PreluShape& shape,
           const float* slopes) {
  if (PreluUsesAvx512()) {
    PreluAvx512(src, dst, type, shape, slopes);
  } else {
    PreluReference(src, dst, type, shape, slopes);
  }
}

}  // namespace kiln::kernels::cpu

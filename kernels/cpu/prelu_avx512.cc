// The AVX-512 body of Prelu (built with -mavx512f/bw/vl; called only
// when the CPU has all three). 16 values per vector: along the lanes when a run
// of lanes shares no slope (channels last, blocked), along `inner` when one
// slope covers the run (channels first); masked loads and stores for tails.
#include <immintrin.h>

#include <algorithm>

#include "kernels/cpu/avx512_io.h"
#include "kernels/cpu/prelu.h"

namespace kiln::kernels::cpu {
namespace {

using avx512::Load;
using avx512::Store;
using avx512::Tail;

inline __m512 Apply(__m512 x, __m512 slope) {
  const __mmask16 not_positive = _mm512_cmp_ps_mask(x, _mm512_setzero_ps(), _CMP_NGT_UQ);
  return _mm512_mask_mul_ps(x, not_positive, x, slope);
}

template <typename T>
void Run(const T* src, T* dst, const PreluShape& s, const float* slopes) {
  if (s.lanes == 1) {
#pragma omp parallel for collapse(2) schedule(static)
    for (int64_t o = 0; o < s.outer; ++o) {
      for (int64_t g = 0; g < s.groups; ++g) {
        const __m512 slope = _mm512_set1_ps(slopes[g]);
        const int64_t base = (o * s.groups + g) * s.inner;
        for (int64_t i = 0; i < s.inner; i += 16) {
          const __mmask16 m = Tail(s.inner - i);
          Store(dst + base + i, m, Apply(Load(src + base + i, m), slope));
        }
      }
    }
    return;
  }
  const int64_t runs = s.outer * s.groups * s.inner;
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < runs; ++r) {
    const int64_t g = (r / s.inner) % s.groups;
    const float* slope_row = slopes + g * s.lanes;
    const int64_t base = r * s.lanes;
    for (int64_t l = 0; l < s.lanes; l += 16) {
      const __mmask16 m = Tail(s.lanes - l);
      const __m512 slope = _mm512_maskz_loadu_ps(m, slope_row + l);
      Store(dst + base + l, m, Apply(Load(src + base + l, m), slope));
    }
  }
}

}  // namespace

void PreluAvx512(const void* src, void* dst, ElementType type, const PreluShape& shape,
                 const float* slopes) {
  if (type == ElementType::kF32) {
    Run(static_cast<const float*>(src), static_cast<float*>(dst), shape, slopes);
  } else {
    Run(static_cast<const uint16_t*>(src), static_cast<uint16_t*>(dst), shape, slopes);
  }
}

}  // namespace kiln::kernels::cpu

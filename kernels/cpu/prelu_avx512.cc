// The AVX-512 body of Prelu (built with -mavx512f/bw/vl; called only
// when the CPU has all three). 16 values per vector: along the lanes when a run
// of lanes shares no slope (channels last, blocked), along `inner` when one
// slope covers the run (channels first); masked loads and stores for tails.
#include <immintrin.h>

#include <algorithm>

#include "kernels/cpu/prelu.h"

namespace kiln::kernels::cpu {
namespace {

inline __m512 Load(const float* p, __mmask16 m) { return _mm512_maskz_loadu_ps(m, p); }
inline void Store(float* p, __mmask16 m, __m512 v) { _mm512_mask_storeu_ps(p, m, v); }

inline __m512 Load(const uint16_t* p, __mmask16 m) {
  const __m256i half = _mm256_maskz_loadu_epi16(m, p);
  return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(half), 16));
}

// Round to nearest even, NaN -> 0x7fc0 (as FloatToBf16).
inline void Store(uint16_t* p, __mmask16 m, __m512 v) {
  const __m512i bits = _mm512_castps_si512(v);
  const __m512i lsb = _mm512_and_si512(_mm512_srli_epi32(bits, 16), _mm512_set1_epi32(1));
  const __m512i rounded =
      _mm512_srli_epi32(_mm512_add_epi32(bits, _mm512_add_epi32(lsb, _mm512_set1_epi32(0x7fff))), 16);
  const __mmask16 nan = _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q);
  const __m512i fixed = _mm512_mask_mov_epi32(rounded, nan, _mm512_set1_epi32(0x7fc0));
  _mm256_mask_storeu_epi16(p, m, _mm512_cvtepi32_epi16(fixed));
}

inline __m512 Apply(__m512 x, __m512 slope) {
  const __mmask16 not_positive = _mm512_cmp_ps_mask(x, _mm512_setzero_ps(), _CMP_NGT_UQ);
  return _mm512_mask_mul_ps(x, not_positive, x, slope);
}

inline __mmask16 Tail(int64_t n) { return n >= 16 ? 0xffff : static_cast<__mmask16>((1u << n) - 1); }

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

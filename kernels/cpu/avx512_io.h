// Vector loads and stores of 16 fp32 or bf16 values for the AVX-512 kernel
// bodies; include only from files built with -mavx512f/bw/vl.
#ifndef KILN_KERNELS_CPU_AVX512_IO_H_
#define KILN_KERNELS_CPU_AVX512_IO_H_

#include <immintrin.h>

#include <cstdint>

namespace kiln::kernels::cpu::avx512 {

// The first n of 16 lanes.
inline __mmask16 Tail(int64_t n) {
  return n >= 16 ? 0xffff : static_cast<__mmask16>((1u << n) - 1);
}

inline __m512 Load(const float* p, __mmask16 m) { return _mm512_maskz_loadu_ps(m, p); }
inline void Store(float* p, __mmask16 m, __m512 v) { _mm512_mask_storeu_ps(p, m, v); }

inline __m512 Load(const uint16_t* p, __mmask16 m) {
  const __m256i half = _mm256_maskz_loadu_epi16(m, p);
  return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(half), 16));
}

// Round to nearest even, NaN -> 0x7fc0 (as FloatToBf16 in bf16.h).
inline void Store(uint16_t* p, __mmask16 m, __m512 v) {
  const __m512i bits = _mm512_castps_si512(v);
  const __m512i lsb = _mm512_and_si512(_mm512_srli_epi32(bits, 16), _mm512_set1_epi32(1));
  const __m512i rounded = _mm512_srli_epi32(
      _mm512_add_epi32(bits, _mm512_add_epi32(lsb, _mm512_set1_epi32(0x7fff))), 16);
  const __mmask16 nan = _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q);
  const __m512i fixed = _mm512_mask_mov_epi32(rounded, nan, _mm512_set1_epi32(0x7fc0));
  _mm256_mask_storeu_epi16(p, m, _mm512_cvtepi32_epi16(fixed));
}

}  // namespace kiln::kernels::cpu::avx512

#endif  // KILN_KERNELS_CPU_AVX512_IO_H_

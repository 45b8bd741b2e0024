// The AVX-512 bodies of Winograd23Input/Output (built with -mavx512f/bw/vl;
// called only when the CPU has all three): 16 channels per vector, masked
// for the channel tail; the same additions in the same order as the scalar
// references.
#include <immintrin.h>

#include "kernels/cpu/avx512_io.h"
#include "kernels/cpu/winograd_f23.h"

namespace kiln::kernels::cpu {
namespace {

using avx512::Load;
using avx512::Store;
using avx512::Tail;

template <typename In, typename Out>
void Input(const In* src, const Winograd23Shape& s, Winograd23Tiles run, Out* v) {
  const int64_t plane = run.count * s.channels;  // elements per transformed point
#pragma omp parallel for schedule(static)
  for (int64_t k = 0; k < run.count; ++k) {
    const auto [n, ty, tx] = s.tile(run.first + k);
    const In* pixel[4][4];  // null outside the input
    for (int i = 0; i < 4; ++i) {
      for (int j = 0; j < 4; ++j) {
        const int64_t y = 2 * ty - s.pad_top + i, x = 2 * tx - s.pad_left + j;
        const bool inside = y >= 0 && y < s.height && x >= 0 && x < s.width;
        pixel[i][j] = inside ? src + ((n * s.height + y) * s.width + x) * s.channels : nullptr;
      }
    }
    Out* out = v + k * s.channels;
    for (int64_t c = 0; c < s.channels; c += 16) {
      const __mmask16 m = Tail(s.channels - c);
      __m512 d[4][4];
      for (int i = 0; i < 4; ++i) {
        for (int j = 0; j < 4; ++j) {
          d[i][j] = pixel[i][j] != nullptr ? Load(pixel[i][j] + c, m) : _mm512_setzero_ps();
        }
      }
      __m512 r[4][4];  // B^T d
      for (int j = 0; j < 4; ++j) {
        r[0][j] = _mm512_sub_ps(d[0][j], d[2][j]);
        r[1][j] = _mm512_add_ps(d[1][j], d[2][j]);
        r[2][j] = _mm512_sub_ps(d[2][j], d[1][j]);
        r[3][j] = _mm512_sub_ps(d[1][j], d[3][j]);
      }
      for (int i = 0; i < 4; ++i) {  // (B^T d) B
        Out* row = out + (i * 4) * plane + c;
        Store(row, m, _mm512_sub_ps(r[i][0], r[i][2]));
        Store(row + plane, m, _mm512_add_ps(r[i][1], r[i][2]));
        Store(row + 2 * plane, m, _mm512_sub_ps(r[i][2], r[i][1]));
        Store(row + 3 * plane, m, _mm512_sub_ps(r[i][1], r[i][3]));
      }
    }
  }
}

template <typename Out>
void Output(const float* mp, const Winograd23Shape& s, Winograd23Tiles run,
            const Winograd23Epilogue& e, Out* dst) {
  const int64_t plane = run.count * s.outputs;
#pragma omp parallel for schedule(static)
  for (int64_t k = 0; k < run.count; ++k) {
    const auto [n, ty, tx] = s.tile(run.first + k);
    Out* pixel[2][2];  // null past the edge
    for (int i = 0; i < 2; ++i) {
      for (int j = 0; j < 2; ++j) {
        const int64_t oy = 2 * ty + i, ox = 2 * tx + j;
        pixel[i][j] = oy < s.out_height && ox < s.out_width
                          ? dst + ((n * s.out_height + oy) * s.out_width + ox) * s.outputs
                          : nullptr;
      }
    }
    const float* in = mp + k * s.outputs;
    for (int64_t o = 0; o < s.outputs; o += 16) {
      const __mmask16 m = Tail(s.outputs - o);
      __m512 a[4][4];
      for (int p = 0; p < 16; ++p) a[p / 4][p % 4] = Load(in + p * plane + o, m);
      __m512 r[2][4];  // A^T M
      for (int j = 0; j < 4; ++j) {
        r[0][j] = _mm512_add_ps(_mm512_add_ps(a[0][j], a[1][j]), a[2][j]);
        r[1][j] = _mm512_sub_ps(_mm512_sub_ps(a[1][j], a[2][j]), a[3][j]);
      }
      const __m512 b = e.bias != nullptr ? Load(e.bias + o, m) : _mm512_setzero_ps();
      for (int i = 0; i < 2; ++i) {  // (A^T M) A
        __m512 y[2] = {_mm512_add_ps(_mm512_add_ps(r[i][0], r[i][1]), r[i][2]),
                       _mm512_sub_ps(_mm512_sub_ps(r[i][1], r[i][2]), r[i][3])};
        for (int j = 0; j < 2; ++j) {
          if (pixel[i][j] == nullptr) continue;
          if (e.bias != nullptr) y[j] = _mm512_add_ps(y[j], b);
          if (e.add_destination) y[j] = _mm512_add_ps(y[j], Load(pixel[i][j] + o, m));
          // max(y, 0) returns its second operand for NaN: 0, as the reference.
          if (e.relu) y[j] = _mm512_max_ps(y[j], _mm512_setzero_ps());
          Store(pixel[i][j] + o, m, y[j]);
        }
      }
    }
  }
}

}  // namespace

void Winograd23InputAvx512(const void* src, ElementType src_type, const Winograd23Shape& s,
                           Winograd23Tiles run, void* v, ElementType v_type) {
  const bool f32_in = src_type == ElementType::kF32, f32_v = v_type == ElementType::kF32;
  if (f32_in && f32_v) {
    Input(static_cast<const float*>(src), s, run, static_cast<float*>(v));
  } else if (f32_in) {
    Input(static_cast<const float*>(src), s, run, static_cast<uint16_t*>(v));
  } else if (f32_v) {
    Input(static_cast<const uint16_t*>(src), s, run, static_cast<float*>(v));
  } else {
    Input(static_cast<const uint16_t*>(src), s, run, static_cast<uint16_t*>(v));
  }
}

void Winograd23OutputAvx512(const float* m, const Winograd23Shape& s, Winograd23Tiles run,
                            const Winograd23Epilogue& e, void* dst, ElementType dst_type) {
  if (dst_type == ElementType::kF32) {
    Output(m, s, run, e, static_cast<float*>(dst));
  } else {
    Output(m, s, run, e, static_cast<uint16_t*>(dst));
  }
}

}  // namespace kiln::kernels::cpu

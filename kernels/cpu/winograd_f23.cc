// Weight transform, dispatch and the scalar references; the AVX-512 bodies
// are in winograd_f23_avx512.cc, the only file built with AVX-512 enabled.
#include "kernels/cpu/winograd_f23.h"

#include "kernels/cpu/bf16.h"
#include "kernels/cpu/cpu_features.h"

namespace kiln::kernels::cpu {

void Winograd23InputAvx512(const void* src, ElementType src_type, const Winograd23Shape& s,
                           Winograd23Tiles run, void* v, ElementType v_type);
void Winograd23OutputAvx512(const float* m, const Winograd23Shape& s, Winograd23Tiles run,
                            const Winograd23Epilogue& e, void* dst, ElementType dst_type);

namespace {

float Load(const void* base, ElementType type, int64_t i) {
  return type == ElementType::kF32 ? static_cast<const float*>(base)[i]
                                   : Bf16ToFloat(static_cast<const uint16_t*>(base)[i]);
}

void Store(void* base, ElementType type, int64_t i, float x) {
  if (type == ElementType::kF32) {
    static_cast<float*>(base)[i] = x;
  } else {
    static_cast<uint16_t*>(base)[i] = FloatToBf16(x);
  }
}

}  // namespace

void Winograd23Weights(const float* weights, int64_t outputs, int64_t channels, float* u) {
  for (int64_t o = 0; o < outputs; ++o) {
    for (int64_t c = 0; c < channels; ++c) {
      const float* g = weights + (o * channels + c) * 9;
      float t[4][3];  // G g
      for (int j = 0; j < 3; ++j) {
        t[0][j] = g[j];
        t[1][j] = 0.5f * (g[j] + g[3 + j] + g[6 + j]);
        t[2][j] = 0.5f * (g[j] - g[3 + j] + g[6 + j]);
        t[3][j] = g[6 + j];
      }
      for (int i = 0; i < 4; ++i) {  // (G g) G^T
        const float row[4] = {t[i][0], 0.5f * (t[i][0] + t[i][1] + t[i][2]),
                              0.5f * (t[i][0] - t[i][1] + t[i][2]), t[i][2]};
        for (int j = 0; j < 4; ++j) u[((i * 4 + j) * channels + c) * outputs + o] = row[j];
      }
    }
  }
}

void Winograd23InputReference(const void* src, ElementType src_type, const Winograd23Shape& s,
                              Winograd23Tiles run, void* v, ElementType v_type) {
#pragma omp parallel for schedule(static)
  for (int64_t k = 0; k < run.count; ++k) {
    const auto [n, ty, tx] = s.tile(run.first + k);
    for (int64_t c = 0; c < s.channels; ++c) {
      float d[4][4];
      for (int i = 0; i < 4; ++i) {
        for (int j = 0; j < 4; ++j) {
          const int64_t y = 2 * ty - s.pad_top + i, x = 2 * tx - s.pad_left + j;
          const bool inside = y >= 0 && y < s.height && x >= 0 && x < s.width;
          d[i][j] = inside ? Load(src, src_type, ((n * s.height + y) * s.width + x) * s.channels + c)
                           : 0.0f;
        }
      }
      float r[4][4];  // B^T d
      for (int j = 0; j < 4; ++j) {
        r[0][j] = d[0][j] - d[2][j];
        r[1][j] = d[1][j] + d[2][j];
        r[2][j] = d[2][j] - d[1][j];
        r[3][j] = d[1][j] - d[3][j];
      }
      for (int i = 0; i < 4; ++i) {  // (B^T d) B
        const float row[4] = {r[i][0] - r[i][2], r[i][1] + r[i][2], r[i][2] - r[i][1],
                              r[i][1] - r[i][3]};
        for (int j = 0; j < 4; ++j) {
          Store(v, v_type, ((i * 4 + j) * run.count + k) * s.channels + c, row[j]);
        }
      }
    }
  }
}

void Winograd23OutputReference(const float* m, const Winograd23Shape& s, Winograd23Tiles run,
                               const Winograd23Epilogue& e, void* dst, ElementType dst_type) {
#pragma omp parallel for schedule(static)
  for (int64_t k = 0; k < run.count; ++k) {
    const auto [n, ty, tx] = s.tile(run.first + k);
    for (int64_t o = 0; o < s.outputs; ++o) {
      float a[4][4];
      for (int p = 0; p < 16; ++p) a[p / 4][p % 4] = m[(p * run.count + k) * s.outputs + o];
      float r[2][4];  // A^T M
      for (int j = 0; j < 4; ++j) {
        r[0][j] = a[0][j] + a[1][j] + a[2][j];
        r[1][j] = a[1][j] - a[2][j] - a[3][j];
      }
      for (int i = 0; i < 2; ++i) {  // (A^T M) A
        float y[2] = {r[i][0] + r[i][1] + r[i][2], r[i][1] - r[i][2] - r[i][3]};
        for (int j = 0; j < 2; ++j) {
          const int64_t oy = 2 * ty + i, ox = 2 * tx + j;
          if (oy >= s.out_height || ox >= s.out_width) continue;
          const int64_t at = ((n * s.out_height + oy) * s.out_width + ox) * s.outputs + o;
          if (e.bias != nullptr) y[j] = y[j] + e.bias[o];
          if (e.add_destination) y[j] = y[j] + Load(dst, dst_type, at);
          if (e.relu) y[j] = y[j] > 0.0f ? y[j] : 0.0f;
          Store(dst, dst_type, at, y[j]);
        }
      }
    }
  }
}

bool Winograd23UsesAvx512() { return CpuHasAvx512Core(); }

void Winograd23Input(const void* src, ElementType src_type, const Winograd23Shape& s,
                     Winograd23Tiles run, void* v, ElementType v_type) {
  if (Winograd23UsesAvx512()) {
    Winograd23InputAvx512(src, src_type, s, run, v, v_type);
  } else {
    Winograd23InputReference(src, src_type, s, run, v, v_type);
  }
}

void Winograd23Output(const float* m, const Winograd23Shape& s, Winograd23Tiles run,
                      const Winograd23Epilogue& e, void* dst, ElementType dst_type) {
  if (Winograd23UsesAvx512()) {
    Winograd23OutputAvx512(m, s, run, e, dst, dst_type);
  } else {
    Winograd23OutputReference(m, s, run, e, dst, dst_type);
  }
}

}  // namespace kiln::kernels::cpu

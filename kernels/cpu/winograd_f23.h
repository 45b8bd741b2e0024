// Winograd F(2x2, 3x3): a 3x3 stride-1 convolution as 16 independent matrix
// products, 2.25x fewer multiplications than the direct convolution.
//
//   U[p][c][o] = (G w[o][c] G^T)[p]           weights, once per plan
//   V[p][t][c] = (B^T d[t][c] B)[p]           input, per run (this file)
//   M[p][t][o] = sum_c V[p][t][c] U[p][c][o]  16 matrix products (oneDNN)
//   y[t][o]    = A^T M[.][t][o] A + bias      2x2 outputs per tile (this file)
//
// with d[t][c] the 4x4 input patch of output tile t (zero outside the
// input), p = 4 * row + column in the 4x4 transformed tile, and
//   B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1],
//   G   = [1 0 0; 1/2 1/2 1/2; 1/2 -1/2 1/2; 0 0 1],
//   A^T = [1 1 1 0; 0 1 -1 -1].
// The F(2,3) transforms add and subtract only (G halves), so rounding V to
// bf16 costs about what rounding the input does for a direct bf16
// convolution; larger tiles (F(4,3)) would amplify it.
//
// Activations are channels last (nhwc), fp32 or bf16. Tile t covers output
// rows 2*ty, 2*ty+1 and columns 2*tx, 2*tx+1 of image n, with
// t = (n * tile_rows + ty) * tile_cols + tx; outputs past the edge of an odd
// size are computed and not stored. V and M may hold a run of consecutive
// tiles only (Winograd23Tiles), so that a large image goes through in pieces
// that stay in cache.
//
// Winograd23Input/Output pick the AVX-512 body when the CPU has AVX512F, BW
// and VL (checked once, at run time), else the scalar reference; both do the
// same additions in the same order, so their results are identical.
// Threads: OpenMP, as many as the calling thread's team size allows.
#ifndef KILN_KERNELS_CPU_WINOGRAD_F23_H_
#define KILN_KERNELS_CPU_WINOGRAD_F23_H_

#include <cstdint>

#include "kernels/cpu/element_type.h"

namespace kiln::kernels::cpu {

inline constexpr int kWinograd23Points = 16;

struct Winograd23Shape {
  int64_t batch = 1;
  int64_t height = 0, width = 0, channels = 0;  // the input
  int64_t out_height = 0, out_width = 0, outputs = 0;
  int64_t pad_top = 0, pad_left = 0;  // zero rows/columns before the input
  int64_t tile_rows() const { return (out_height + 1) / 2; }
  int64_t tile_cols() const { return (out_width + 1) / 2; }
  int64_t tiles() const { return batch * tile_rows() * tile_cols(); }
  // Image, tile row and tile column of tile t.
  struct Tile {
    int64_t n, ty, tx;
  };
  Tile tile(int64_t t) const {
    const int64_t per_image = tile_rows() * tile_cols();
    return {t / per_image, (t % per_image) / tile_cols(), t % tile_cols()};
  }
};

// Tiles [first, first + count) of a shape's tiles(): V and M then hold
// [16][count][...], tile first + k at row k.
struct Winograd23Tiles {
  int64_t first = 0;
  int64_t count = 0;
};

// weights: PyTorch's (outputs, channels, 3, 3); u: [16][channels][outputs].
void Winograd23Weights(const float* weights, int64_t outputs, int64_t channels, float* u);

// src: (batch, height, width, channels) of `src_type`; v: [16][r.count][channels]
// of `v_type`.
void Winograd23Input(const void* src, ElementType src_type, const Winograd23Shape& s,
                     Winograd23Tiles r, void* v, ElementType v_type);
void Winograd23InputReference(const void* src, ElementType src_type, const Winograd23Shape& s,
                              Winograd23Tiles r, void* v, ElementType v_type);

// What the output transform does to each value y after A^T M A, in order
// (a convolution's bias, a fused residual sum, a relu).
struct Winograd23Epilogue {
  const float* bias = nullptr;   // y += bias[o] (`outputs` values), when set
  bool add_destination = false;  // y += the value dst holds
  bool relu = false;             // y = max(y, 0); NaN gives 0
};

// m: [16][r.count][outputs] fp32; dst: (batch, out_height, out_width,
// outputs) of `dst_type`, the tiles' outputs written.
void Winograd23Output(const float* m, const Winograd23Shape& s, Winograd23Tiles r,
                      const Winograd23Epilogue& e, void* dst, ElementType dst_type);
void Winograd23OutputReference(const float* m, const Winograd23Shape& s, Winograd23Tiles r,
                               const Winograd23Epilogue& e, void* dst, ElementType dst_type);

// Whether Winograd23Input/Output run the AVX-512 bodies on this CPU.
bool Winograd23UsesAvx512();

}  // namespace kiln::kernels::cpu

#endif  // KILN_KERNELS_CPU_WINOGRAD_F23_H_

// bfloat16 <-> float conversions shared by the CPU kernels' scalar code.
#ifndef KILN_KERNELS_CPU_BF16_H_
#define KILN_KERNELS_CPU_BF16_H_

#include <cstdint>
#include <cstring>

namespace kiln::kernels::cpu {

inline float Bf16ToFloat(uint16_t bits) {
  const uint32_t wide = static_cast<uint32_t>(bits) << 16;
  float f;
  std::memcpy(&f, &wide, sizeof f);
  return f;
}

// Round to nearest even; NaN stays a (quiet) NaN.
inline uint16_t FloatToBf16(float f) {
  uint32_t bits;
  std::memcpy(&bits, &f, sizeof bits);
  if ((bits & 0x7fffffffu) > 0x7f800000u) return 0x7fc0;
  bits += 0x7fffu + ((bits >> 16) & 1u);
  return static_cast<uint16_t>(bits >> 16);
}

}  // namespace kiln::kernels::cpu

#endif  // KILN_KERNELS_CPU_BF16_H_

// The element types Kiln's CPU kernels read and write.
#ifndef KILN_KERNELS_CPU_ELEMENT_TYPE_H_
#define KILN_KERNELS_CPU_ELEMENT_TYPE_H_

namespace kiln::kernels::cpu {

enum class ElementType { kF32, kBF16 };

}  // namespace kiln::kernels::cpu

#endif  // KILN_KERNELS_CPU_ELEMENT_TYPE_H_

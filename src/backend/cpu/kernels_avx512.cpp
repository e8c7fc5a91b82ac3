// AVX-512 (VL + VNNI) matmul tiles: the x86 kernels with 32 registers, VNNI dot products and wider tiles.
#define HEARTH_KERNEL_VNNI 1
#define HEARTH_KERNEL_NS avx512
#include "backend/cpu/kernels_x86_impl.h"

namespace hearth::cpu {
Kernel kernel_avx512(DType t) { return avx512::table(t); }
QuantizeFn quantizer_avx512(DType vt) { return avx512::quantizer(vt); }
}  // namespace hearth::cpu

// AVX2 + FMA + F16C matmul tiles (see kernels_x86_impl.h).
#define HEARTH_KERNEL_VNNI 0
#define HEARTH_KERNEL_NS avx2
#include "backend/cpu/kernels_x86_impl.h"

namespace hearth::cpu {
Kernel kernel_avx2(DType t) { return avx2::table(t); }
QuantizeFn quantizer_avx2(DType vt) { return avx2::quantizer(vt); }
}  // namespace hearth::cpu

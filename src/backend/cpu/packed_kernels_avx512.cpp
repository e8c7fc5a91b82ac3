// Packed-weight kernels at the avx512 level (see packed_kernels_x86_impl.h).
#define HEARTH_KERNEL_VNNI 1
#define HEARTH_KERNEL_NS pk_avx512
#include "backend/cpu/packed_kernels_x86_impl.h"

namespace hearth::cpu {
PackedKernel packed_avx512(DType t) { return pk_avx512::packed_table(t); }
}  // namespace hearth::cpu

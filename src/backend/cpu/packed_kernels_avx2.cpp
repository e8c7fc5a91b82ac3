// Packed-weight kernels at the avx2 level (see packed_kernels_x86_impl.h).
#define HEARTH_KERNEL_VNNI 0
#define HEARTH_KERNEL_NS pk_avx2
#include "backend/cpu/packed_kernels_x86_impl.h"

namespace hearth::cpu {
PackedKernel packed_avx2(DType t) { return pk_avx2::packed_table(t); }
}  // namespace hearth::cpu

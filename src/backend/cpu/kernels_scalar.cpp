// The scalar level: every supported type through the reference dot product, and ISA selection.
#include <atomic>
#include <vector>
#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

#include "backend/cpu/kernels.h"
#include "backend/cpu/packed.h"
#include "quant/quant.h"

namespace hearth::cpu {
namespace {

// The reference dot product needs the type at run time; one instantiation per type keeps TileFn a plain pointer.
template <DType kType>
void tile_ref(int64_t n, const uint8_t* const* w, const uint8_t* const* x, float* out) {
  out[0] = vec_dot_ref(kType, n, w[0], x[0]);
}

// Packed weights at the scalar level: each row unpacked to the file layout, then the reference dot product.
template <DType kType>
void packed_ref(int64_t n, const uint8_t* group, const uint8_t* const* x, const int32_t* const*, float* out) {
  thread_local std::vector<uint8_t> row;
  row.resize(row_bytes(kType, n));
  for (int r = 0; r < kPackRows; ++r) {
    unpack_row(kType, group, n, r, row.data());
    out[r] = vec_dot_ref(kType, n, row.data(), x[0]);
  }
}

std::atomic<int> g_isa{-1};

template <DType kType>
void quantize_ref(const float* x, void* y, int64_t n) {
  quantize_row_ref(kType, x, y, n);
}

}  // namespace

Kernel kernel_scalar(DType t) {
  Kernel k;
  switch (t) {
#define HEARTH_REF_CASE(T) case DType::T: k.decode = k.gemm = tile_ref<DType::T>; break;
    HEARTH_REF_CASE(F32) HEARTH_REF_CASE(F16) HEARTH_REF_CASE(BF16) HEARTH_REF_CASE(Q4_0) HEARTH_REF_CASE(Q4_1)
    HEARTH_REF_CASE(Q5_0) HEARTH_REF_CASE(Q5_1) HEARTH_REF_CASE(Q8_0) HEARTH_REF_CASE(Q2_K) HEARTH_REF_CASE(Q3_K)
    HEARTH_REF_CASE(Q4_K) HEARTH_REF_CASE(Q5_K) HEARTH_REF_CASE(Q6_K)
#undef HEARTH_REF_CASE
    default: break;
  }
  return k;
}

PackedKernel packed_scalar(DType t) {
  switch (t) {
#define HEARTH_PACKED_REF(T) case DType::T: return {packed_ref<DType::T>, packed_ref<DType::T>, 1};
    HEARTH_PACKED_REF(Q4_0) HEARTH_PACKED_REF(Q8_0) HEARTH_PACKED_REF(Q2_K) HEARTH_PACKED_REF(Q3_K)
    HEARTH_PACKED_REF(Q4_K) HEARTH_PACKED_REF(Q5_K) HEARTH_PACKED_REF(Q6_K)
#undef HEARTH_PACKED_REF
    default: return {};
  }
}

const char* isa_name(Isa isa) {
  switch (isa) {
    case Isa::Avx512: return "avx512-vnni";
    case Isa::Avx2: return "avx2";
    default: return "scalar";
  }
}

Isa best_isa() {
  static const Isa best = [] {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_cpu_init();
    // F16C from CPUID (leaf 1, ECX): clang 14's __builtin_cpu_supports does not know "f16c".
    unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
    const bool f16c = __get_cpuid(1, &eax, &ebx, &ecx, &edx) && (ecx & bit_F16C);
    bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && f16c;
    if (avx2 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512vnni"))
      return Isa::Avx512;
    if (avx2) return Isa::Avx2;
#endif
    return Isa::Scalar;
  }();
  return best;
}

Isa active_isa() {
  int v = g_isa.load(std::memory_order_relaxed);
  return v < 0 ? best_isa() : static_cast<Isa>(v);
}

Isa set_isa(Isa isa) {
  if (static_cast<int>(isa) > static_cast<int>(best_isa())) isa = best_isa();
  g_isa.store(static_cast<int>(isa), std::memory_order_relaxed);
  return isa;
}

Kernel kernel_at(DType t, Isa isa) {
  switch (isa) {
    case Isa::Avx512: return kernel_avx512(t);
    case Isa::Avx2: return kernel_avx2(t);
    default: return kernel_scalar(t);
  }
}

QuantizeFn quantizer_for(DType vt, Isa isa) {
  if (isa == Isa::Avx512)
    if (QuantizeFn f = quantizer_avx512(vt)) return f;
  if (isa >= Isa::Avx2)
    if (QuantizeFn f = quantizer_avx2(vt)) return f;
  switch (vt) {
    case DType::Q8_0: return quantize_ref<DType::Q8_0>;
    case DType::Q8_1: return quantize_ref<DType::Q8_1>;
    case DType::Q8_K: return quantize_ref<DType::Q8_K>;
    default: return nullptr;
  }
}

PackedKernel packed_kernel_at(DType t, Isa isa) {
  switch (isa) {
    case Isa::Avx512: return packed_avx512(t);
    case Isa::Avx2: return packed_avx2(t);
    default: return packed_scalar(t);
  }
}

PackedKernel packed_kernel_for(DType t, Isa isa) {
  for (int l = static_cast<int>(isa); l >= 0; --l)
    if (PackedKernel k = packed_kernel_at(t, static_cast<Isa>(l))) return k;
  return {};
}

Kernel kernel_for(DType t, Isa isa) {
  for (int l = static_cast<int>(isa); l >= 0; --l)
    if (Kernel k = kernel_at(t, static_cast<Isa>(l))) return k;
  return {};
}

}  // namespace hearth::cpu

// Matmul micro-kernels: integer (or F16/BF16/F32) dot products of a tile of weight rows with a tile of
// activation rows, chosen per weight type and instruction set at run time.
#pragma once
#include <cstdint>

#include "quant/dtype.h"

namespace hearth::cpu {

enum class Isa : int { Scalar = 0, Avx2 = 1, Avx512 = 2 };

const char* isa_name(Isa isa);
// The best level this CPU runs (AVX-512 means F/BW/VL/VNNI).
Isa best_isa();
// The level matmul uses: best_isa() unless lowered with set_isa() (tests force each level).
Isa active_isa();
// Sets the level (clamped to best_isa()); returns the level in effect.
Isa set_isa(Isa isa);

// out[r * T + t] = dot(w[r], x[t]) over n elements, for a fixed R x T tile. w[r] are weight rows of the
// kernel's type, x[t] activation rows already in vec_dot_type(type) (F32 for float weights).
using TileFn = void (*)(int64_t n, const uint8_t* const* w, const uint8_t* const* x, float* out);

struct Kernel {
  TileFn decode = nullptr;  // decode_rows x 1 token
  int decode_rows = 1;
  TileFn gemm = nullptr;    // gemm_rows x gemm_tokens
  int gemm_rows = 1;
  int gemm_tokens = 1;
  explicit operator bool() const { return decode != nullptr; }
};

// The kernel for weights of type t at exactly this level (empty when that level has none for t).
Kernel kernel_at(DType t, Isa isa);
// The best kernel for t at or below level isa (never empty: the scalar level covers every supported type).
Kernel kernel_for(DType t, Isa isa);

// Packed weights (packed.h): out[r * T + t] = dot(row r of one group, x[t]) for the group's kPackRows rows and
// T tokens. x[t] are activation rows in vec_dot_type(type); xs[t] their per-block sums of quants (Q8_0 rows).
using PackedFn = void (*)(int64_t n, const uint8_t* group, const uint8_t* const* x, const int32_t* const* xs,
                          float* out);

struct PackedKernel {
  PackedFn decode = nullptr;  // 1 token
  PackedFn gemm = nullptr;    // gemm_tokens tokens
  int gemm_tokens = 1;
  PackedFn gemm2 = nullptr;   // optional: gemm over two consecutive groups (out has 2 * kPackRows rows)
  PackedFn pair = nullptr;    // optional: 2 tokens (batches of 2-3 sequences, the tail of a prompt)
  // Optional: gemm / gemm2 with software prefetch, for small batches that read each weight once.
  PackedFn gemm_stream = nullptr, gemm2_stream = nullptr;
  explicit operator bool() const { return decode != nullptr; }
};

// As kernel_at / kernel_for, for packed weights (empty when type t has no packed layout).
PackedKernel packed_kernel_at(DType t, Isa isa);
PackedKernel packed_kernel_for(DType t, Isa isa);

// Quantizes n activations to a dot type (Q8_0, Q8_1, Q8_K), bit-identical to quantize_row_ref.
using QuantizeFn = void (*)(const float* x, void* y, int64_t n);
// The fastest quantizer at or below level isa for activation type vt (quantize_row_ref's when none is faster).
QuantizeFn quantizer_for(DType vt, Isa isa);

// Per-level tables (kernels_avx2.cpp, kernels_avx512.cpp, kernels_scalar.cpp).
Kernel kernel_avx2(DType t);
Kernel kernel_avx512(DType t);
Kernel kernel_scalar(DType t);
QuantizeFn quantizer_avx2(DType vt);
PackedKernel packed_avx2(DType t);
PackedKernel packed_avx512(DType t);
PackedKernel packed_scalar(DType t);
QuantizeFn quantizer_avx512(DType vt);

}  // namespace hearth::cpu

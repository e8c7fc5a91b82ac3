// Per-family entry points behind quant.h (each returns false when t is not of its family).
#pragma once
#include <cstdint>

#include "quant/dtype.h"

namespace hearth::q {

// Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q8_1 (quant_legacy.cpp).
bool dequantize_legacy(DType t, const void* src, float* dst, int64_t n);
bool quantize_legacy(DType t, const float* src, void* dst, int64_t n);
bool vec_dot_legacy(DType t, int64_t n, const void* w, const void* x, float* out);

// Q2_K .. Q6_K, Q8_K (quant_k.cpp, quant_k_dot.cpp).
bool dequantize_k(DType t, const void* src, float* dst, int64_t n);
bool quantize_k(DType t, const float* src, void* dst, int64_t n);
bool vec_dot_k(DType t, int64_t n, const void* w, const void* x, float* out);

}  // namespace hearth::q

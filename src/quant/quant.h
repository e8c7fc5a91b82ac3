// Reference (scalar, plain C++) quantize / dequantize / dot for every block format.
// These are the ground truth the SIMD and CUDA kernels are tested against.
#pragma once
#include <cstdint>

#include "quant/dtype.h"

namespace hearth {

// True when this build can dequantize (and so run) weights of type t.
bool dtype_supported(DType t);
// Dequantizes n elements (a multiple of the block size) of type t.
void dequantize_row_ref(DType t, const void* src, float* dst, int64_t n);
// Quantizes n elements into type t.
void quantize_row_ref(DType t, const float* src, void* dst, int64_t n);
// The type activations are quantized to for the integer dot product with weights of type t
// (Q8_0 for the 32-blocks, Q8_K for the k-quants, F32 for float weights).
DType vec_dot_type(DType t);
// Dot product of a row of n weights of type t with n activations already quantized to vec_dot_type(t).
float vec_dot_ref(DType t, int64_t n, const void* w, const void* x);

}  // namespace hearth

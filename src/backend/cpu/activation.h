// Element-wise activations of the feed-forward block.
#pragma once
#include <cstddef>

namespace hearth::cpu {

// out[i] = silu(gate[i]) * up[i], silu(x) = x / (1 + e^-x). Picks the AVX2 version where the CPU has it.
void swiglu(const float* gate, const float* up, float* out, size_t n);
// The reference, and the AVX2 + FMA version (relative difference ~1e-6).
void swiglu_ref(const float* gate, const float* up, float* out, size_t n);
void swiglu_avx2(const float* gate, const float* up, float* out, size_t n);

// out[i] = gelu(x[i]) and out[i] = gelu(gate[i]) * up[i] (tanh form, layer_ops.h has the references), as
// x * sigmoid(2 sqrt(2/pi) (x + 0.044715 x^3)), which is the same function; AVX2 where the CPU has it.
void gelu(const float* x, float* out, size_t n);
void geglu(const float* gate, const float* up, float* out, size_t n);
// up == nullptr: gelu alone.
void geglu_avx2(const float* gate, const float* up, float* out, size_t n);

}  // namespace hearth::cpu

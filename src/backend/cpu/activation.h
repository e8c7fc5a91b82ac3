// Element-wise activations of the feed-forward block.
#pragma once
#include <cstddef>

namespace hearth::cpu {

// out[i] = silu(gate[i]) * up[i], silu(x) = x / (1 + e^-x). Picks the AVX2 version where the CPU has it.
void swiglu(const float* gate, const float* up, float* out, size_t n);
// The reference, and the AVX2 + FMA version (relative difference ~1e-6).
void swiglu_ref(const float* gate, const float* up, float* out, size_t n);
void swiglu_avx2(const float* gate, const float* up, float* out, size_t n);

}  // namespace hearth::cpu

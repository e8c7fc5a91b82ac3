// The row and elementwise ops of the non-Llama blocks (LayerNorm, GELU, GeGLU, bias rows, scaling): plain C++,
// the scalar references the CUDA versions are tested against and what the CPU backend runs.
#pragma once
#include <cstddef>
#include <cstdint>

namespace hearth::cpu {

// y[r] = (x[r] - mean) / sqrt(var + eps) * w + b, per row of dim elements; b may be null.
void layer_norm_ref(const float* x, const float* w, const float* b, float* y, int n_rows, int dim, float eps);
// GELU, tanh approximation (GPT-2's, and ggml's): 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))).
float gelu_ref(float x);
void gelu_ref(const float* x, float* out, size_t n);
// out[i] = gelu(gate[i]) * up[i].
void geglu_ref(const float* gate, const float* up, float* out, size_t n);
// x[r, :] += b for each of n_rows rows of dim elements.
void add_bias_ref(float* x, const float* b, int n_rows, int dim);

// dst[i, :] = src[rows[i], :]; dst[rows[i], :] += scales[i] * src[i, :] (mixture-of-experts routing).
void gather_rows_ref(const float* src, const int32_t* rows, int n, int width, float* dst);
void scatter_add_rows_ref(float* dst, const float* src, const int32_t* rows, const float* scales, int n, int width);

}  // namespace hearth::cpu

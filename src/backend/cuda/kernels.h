// Host-side launchers of the CUDA kernels (each .cu file implements a group). All run on `stream`.
#pragma once
#include <cublas_v2.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstdint>
#include <string>

#include "backend/backend.h"

namespace hearth::cuda {

// Largest n_tokens the matrix-vector kernels take; bigger batches use dequantize + cuBLAS.
constexpr int kMaxMatvecTokens = 8;

// Activations quantized for the integer dot products: per token, cols int8 values and per 32-element
// chunk {d, sum of x over elements 0..15, sum over 16..31, the two int16 sums of the int8 values packed}.
struct QuantizedActs {
  int8_t* q = nullptr;  // [n_tokens, cols]
  float4* s = nullptr;  // [n_tokens, cols / 32]
};

void quantize_acts(const float* x, QuantizedActs a, int n_tokens, int cols, cudaStream_t stream);
// y[t, r] = W[r, :] . x[t, :] for n_tokens <= kMaxMatvecTokens. Quantized types read `a` (already
// filled by quantize_acts), float types read x.
void matvec(const Weight& w, const float* x, QuantizedActs a, float* y, int n_tokens, cudaStream_t stream);
// Dequantizes rows [0, n_rows) of w to F16 (dst: [n_rows, cols]).
void dequantize_f16(const Weight& w, __half* dst, int64_t n_rows, cudaStream_t stream);
void f32_to_f16(const float* x, __half* y, int64_t n, cudaStream_t stream);
// out[i, :] = row ids[i] of table (ids on the device).
void get_rows(const Weight& table, const int32_t* ids, int n, float* out, cudaStream_t stream);

void rms_norm(const float* x, const float* w, float* y, int n_rows, int dim, float eps, cudaStream_t stream);
// freq: [n_rot / 2] per-pair frequencies (freq_scale and freq_factors already applied); attn_factor scales the
// rotated values.
void rope(float* x, int n_tokens, int n_heads, int head_dim, int n_rot, bool neox, const float* freq,
          float attn_factor, const int32_t* pos, cudaStream_t stream);
void kv_store(const float* k, const float* v, const KvLayer& kv, int n_tokens, const int32_t* pos,
              const int32_t* seq, cudaStream_t stream);
void swiglu(const float* gate, const float* up, float* out, size_t n, cudaStream_t stream);
void add(float* x, const float* y, size_t n, cudaStream_t stream);
// b may be null (no bias).
void layer_norm(const float* x, const float* w, const float* b, float* y, int n_rows, int dim, float eps,
                cudaStream_t stream);
// out = gelu(x) * up, or gelu(x) when up is null.
void gelu(const float* x, const float* up, float* out, size_t n, cudaStream_t stream);
// x[r, :] += b for n_rows rows of dim values.
void add_bias(float* x, const float* b, int n_rows, int dim, cudaStream_t stream);
void scale(float* x, float s, size_t n, cudaStream_t stream);
// rows, scales: device arrays of n entries.
void gather_rows(const float* src, const int32_t* rows, int n, int width, float* dst, cudaStream_t stream);
void scatter_add_rows(float* dst, const float* src, const int32_t* rows, const float* scales, int n, int width,
                      cudaStream_t stream);
// Whether this build's kernels can run on the device (false, with the runtime's reason, for a GPU whose
// architecture is older than every one compiled in, or newer with no PTX to compile for it).
bool has_kernel_image(int device, std::string* why);

// Floats of scratch attention() needs for a split into n_splits key ranges.
size_t attention_scratch_floats(int n_tokens, const AttentionParams& p, int n_splits);
// max_keys: the largest pos + 1 of the batch; part: attention_scratch_floats() floats.
void attention(const float* q, const KvLayer& kv, int n_tokens, const int32_t* pos, const int32_t* seq, float* out,
               const AttentionParams& p, int max_keys, int n_splits, float* part, cudaStream_t stream);
// How many key ranges to split a batch into so that the device is busy.
int attention_splits(int n_tokens, int n_head, int max_keys, int n_sm);

}  // namespace hearth::cuda

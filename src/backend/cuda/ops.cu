// Small per-token ops: RMS norm, RoPE, KV cache stores and elementwise activations.
#include <algorithm>
#include <cstdint>
#include <string>

#include "backend/cuda/common.cuh"
#include "backend/cuda/kernels.h"

namespace hearth::cuda {
namespace {

// One block per row.
__global__ void rms_norm_kernel(const float* x, const float* __restrict__ w, float* y,
                                int dim, float eps) {
  __shared__ float shared32[32];
  const float* xr = x + static_cast<size_t>(blockIdx.x) * dim;
  float* yr = y + static_cast<size_t>(blockIdx.x) * dim;
  float ss = 0.0f;
  for (int i = threadIdx.x; i < dim; i += blockDim.x) ss += xr[i] * xr[i];
  const float scale = rsqrtf(block_sum(ss, shared32) / dim + eps);
  for (int i = threadIdx.x; i < dim; i += blockDim.x) yr[i] = xr[i] * scale * w[i];
}

// One thread per rotated pair.
__global__ void rope_kernel(float* __restrict__ x, int n_tokens, int n_heads, int head_dim, int half, bool neox,
                            const float* __restrict__ freq, float attn_factor, const int32_t* __restrict__ pos) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= static_cast<int64_t>(n_tokens) * n_heads * half) return;
  const int p = static_cast<int>(i % half);
  const int64_t th = i / half;  // token * n_heads + head
  const int t = static_cast<int>(th / n_heads);
  const float theta = static_cast<float>(pos[t]) * freq[p];
  // Double precision: fast-math sinf/cosf lose accuracy at the large angles of long contexts.
  double s, c;
  sincos(static_cast<double>(theta), &s, &c);
  float* v = x + th * head_dim;
  const int a = neox ? p : 2 * p, b = neox ? p + half : 2 * p + 1;
  const float x0 = v[a], x1 = v[b];
  const float cf = static_cast<float>(c) * attn_factor, sf = static_cast<float>(s) * attn_factor;
  v[a] = x0 * cf - x1 * sf;
  v[b] = x0 * sf + x1 * cf;
}

template <typename Cache>
__device__ __forceinline__ Cache to_cache(float v);
template <>
__device__ __forceinline__ float to_cache<float>(float v) { return v; }
template <>
__device__ __forceinline__ __half to_cache<__half>(float v) { return __float2half_rn(v); }

template <typename Cache>
__global__ void kv_store_kernel(const float* __restrict__ k, const float* __restrict__ v, Cache* __restrict__ kc,
                                Cache* __restrict__ vc, int n_tokens, int kv_dim, int n_ctx,
                                const int32_t* __restrict__ pos, const int32_t* __restrict__ seq) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= static_cast<int64_t>(n_tokens) * kv_dim) return;
  const int t = static_cast<int>(i / kv_dim), e = static_cast<int>(i % kv_dim);
  const int64_t off = (static_cast<int64_t>(seq[t]) * n_ctx + pos[t]) * kv_dim + e;
  kc[off] = to_cache<Cache>(k[i]);
  vc[off] = to_cache<Cache>(v[i]);
}

__global__ void swiglu_kernel(const float* g, const float* u, float* o,
                              size_t n) {
  for (size_t i = static_cast<size_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += static_cast<size_t>(gridDim.x) * blockDim.x)
    o[i] = g[i] / (1.0f + expf(-g[i])) * u[i];
}

__global__ void add_kernel(float* x, const float* y, size_t n) {
  for (size_t i = static_cast<size_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += static_cast<size_t>(gridDim.x) * blockDim.x)
    x[i] += y[i];
}

}  // namespace

void rms_norm(const float* x, const float* w, float* y, int n_rows, int dim, float eps, cudaStream_t stream) {
  if (n_rows <= 0) return;
  rms_norm_kernel<<<n_rows, dim >= 1024 ? 512 : 128, 0, stream>>>(x, w, y, dim, eps);
  check_launch("rms_norm");
}

void rope(float* x, int n_tokens, int n_heads, int head_dim, int n_rot, bool neox, const float* freq,
          float attn_factor, const int32_t* pos, cudaStream_t stream) {
  const int half = n_rot / 2;
  const int64_t n = static_cast<int64_t>(n_tokens) * n_heads * half;
  if (n <= 0) return;
  rope_kernel<<<div_up(n, 256), 256, 0, stream>>>(x, n_tokens, n_heads, head_dim, half, neox, freq, attn_factor,
                                                   pos);
  check_launch("rope");
}

void kv_store(const float* k, const float* v, const KvLayer& kv, int n_tokens, const int32_t* pos,
              const int32_t* seq, cudaStream_t stream) {
  const int64_t n = static_cast<int64_t>(n_tokens) * kv.kv_dim;
  if (n <= 0) return;
  if (kv.type == DType::F16)
    kv_store_kernel<__half><<<div_up(n, 256), 256, 0, stream>>>(
        k, v, static_cast<__half*>(kv.k), static_cast<__half*>(kv.v), n_tokens, kv.kv_dim, kv.n_ctx, pos, seq);
  else if (kv.type == DType::F32)
    kv_store_kernel<float><<<div_up(n, 256), 256, 0, stream>>>(
        k, v, static_cast<float*>(kv.k), static_cast<float*>(kv.v), n_tokens, kv.kv_dim, kv.n_ctx, pos, seq);
  else
    throw Error("CUDA kv_store: KV cache type " + std::string(dtype_name(kv.type)) + " is not supported");
  check_launch("kv_store");
}

void swiglu(const float* gate, const float* up, float* out, size_t n, cudaStream_t stream) {
  if (n == 0) return;
  swiglu_kernel<<<grid_for(n), 256, 0, stream>>>(gate, up, out, n);
  check_launch("swiglu");
}

bool has_kernel_image(int device, std::string* why) {
  // Binary compatibility is per kernel image: ask for one kernel's attributes on the device.
  cudaFuncAttributes attr{};
  int current = 0;
  cudaGetDevice(&current);
  cudaSetDevice(device);
  const cudaError_t e = cudaFuncGetAttributes(&attr, add_kernel);
  cudaSetDevice(current);
  if (e == cudaSuccess) return true;
  cudaGetLastError();
  if (why) *why = cudaGetErrorString(e);
  return false;
}

void add(float* x, const float* y, size_t n, cudaStream_t stream) {
  if (n == 0) return;
  add_kernel<<<grid_for(n), 256, 0, stream>>>(x, y, n);
  check_launch("add");
}

}  // namespace hearth::cuda

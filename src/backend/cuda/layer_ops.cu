// The row and elementwise ops of the non-Llama blocks: LayerNorm, GELU / GeGLU, bias rows, scaling
// (references: src/backend/cpu/layer_ops.cpp).
#include <algorithm>
#include <cstdint>

#include "backend/cuda/common.cuh"
#include "backend/cuda/kernels.h"

namespace hearth::cuda {
namespace {

// One block per row: the mean, then the variance around it (two passes, as the reference).
__global__ void layer_norm_kernel(const float* x, const float* __restrict__ w, const float* __restrict__ b,
                                  float* y, int dim, float eps) {
  __shared__ float shared32[32];
  const float* xr = x + static_cast<size_t>(blockIdx.x) * dim;
  float* yr = y + static_cast<size_t>(blockIdx.x) * dim;
  float s = 0.0f;
  for (int i = threadIdx.x; i < dim; i += blockDim.x) s += xr[i];
  const float mean = block_sum(s, shared32) / dim;
  float ss = 0.0f;
  for (int i = threadIdx.x; i < dim; i += blockDim.x) ss += (xr[i] - mean) * (xr[i] - mean);
  const float scale = rsqrtf(block_sum(ss, shared32) / dim + eps);
  for (int i = threadIdx.x; i < dim; i += blockDim.x) yr[i] = (xr[i] - mean) * scale * w[i] + (b ? b[i] : 0.0f);
}

__device__ __forceinline__ float gelu_tanh(float x) {
  constexpr float kSqrt2OverPi = 0.79788456080286535588f;
  return 0.5f * x * (1.0f + tanhf(kSqrt2OverPi * x * (1.0f + 0.044715f * x * x)));
}

__global__ void gelu_kernel(const float* x, const float* up, float* o, size_t n) {
  for (size_t i = static_cast<size_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += static_cast<size_t>(gridDim.x) * blockDim.x)
    o[i] = up ? gelu_tanh(x[i]) * up[i] : gelu_tanh(x[i]);
}

__global__ void add_bias_kernel(float* x, const float* __restrict__ b, size_t n, int dim) {
  for (size_t i = static_cast<size_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += static_cast<size_t>(gridDim.x) * blockDim.x)
    x[i] += b[i % dim];
}

__global__ void scale_kernel(float* x, float s, size_t n) {
  for (size_t i = static_cast<size_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += static_cast<size_t>(gridDim.x) * blockDim.x)
    x[i] *= s;
}

// One block per row.
__global__ void gather_rows_kernel(const float* src, const int32_t* __restrict__ rows, int width, float* dst) {
  const float* s = src + static_cast<size_t>(rows[blockIdx.x]) * width;
  float* d = dst + static_cast<size_t>(blockIdx.x) * width;
  for (int j = threadIdx.x; j < width; j += blockDim.x) d[j] = s[j];
}

__global__ void scatter_add_rows_kernel(float* dst, const float* src, const int32_t* __restrict__ rows,
                                        const float* __restrict__ scales, int width) {
  float* d = dst + static_cast<size_t>(rows[blockIdx.x]) * width;
  const float* s = src + static_cast<size_t>(blockIdx.x) * width;
  const float c = scales[blockIdx.x];
  for (int j = threadIdx.x; j < width; j += blockDim.x) d[j] += c * s[j];
}

}  // namespace

void gather_rows(const float* src, const int32_t* rows, int n, int width, float* dst, cudaStream_t stream) {
  if (n <= 0) return;
  gather_rows_kernel<<<n, 256, 0, stream>>>(src, rows, width, dst);
  check_launch("gather_rows");
}

void scatter_add_rows(float* dst, const float* src, const int32_t* rows, const float* scales, int n, int width,
                      cudaStream_t stream) {
  if (n <= 0) return;
  scatter_add_rows_kernel<<<n, 256, 0, stream>>>(dst, src, rows, scales, width);
  check_launch("scatter_add_rows");
}

void layer_norm(const float* x, const float* w, const float* b, float* y, int n_rows, int dim, float eps,
                cudaStream_t stream) {
  if (n_rows <= 0) return;
  layer_norm_kernel<<<n_rows, dim >= 1024 ? 512 : 128, 0, stream>>>(x, w, b, y, dim, eps);
  check_launch("layer_norm");
}

void gelu(const float* x, const float* up, float* out, size_t n, cudaStream_t stream) {
  if (n == 0) return;
  gelu_kernel<<<grid_for(n), 256, 0, stream>>>(x, up, out, n);
  check_launch("gelu");
}

void add_bias(float* x, const float* b, int n_rows, int dim, cudaStream_t stream) {
  const size_t n = static_cast<size_t>(n_rows) * dim;
  if (n == 0) return;
  add_bias_kernel<<<grid_for(n), 256, 0, stream>>>(x, b, n, dim);
  check_launch("add_bias");
}

void scale(float* x, float s, size_t n, cudaStream_t stream) {
  if (n == 0) return;
  scale_kernel<<<grid_for(n), 256, 0, stream>>>(x, s, n);
  check_launch("scale");
}

}  // namespace hearth::cuda

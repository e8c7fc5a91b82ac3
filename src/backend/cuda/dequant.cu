// Dequantization kernels: whole matrices to F16 (the operand of the cuBLAS GEMM for prompt batches) and
// single rows to F32 (the embedding lookup). Both use the same per-type chunk decoders as the matvec.
#include <algorithm>
#include <cstdint>
#include <string>

#include "backend/cuda/common.cuh"
#include "backend/cuda/kernels.h"

namespace hearth::cuda {
namespace {

// 32 weights of a chunk written as F16 (dst 64-byte aligned).
__device__ __forceinline__ void store_chunk_f16(const Chunk& c, __half* dst) {
  uint4* d4 = reinterpret_cast<uint4*>(dst);
#pragma unroll
  for (int k = 0; k < 4; ++k) {
    __half2 h[4];
#pragma unroll
    for (int p = 0; p < 4; ++p)
      h[p] = __floats2half2_rn(chunk_value(c, 8 * k + 2 * p), chunk_value(c, 8 * k + 2 * p + 1));
    d4[k] = *reinterpret_cast<const uint4*>(h);
  }
}

// One thread per 32-weight chunk of the matrix.
template <DType T>
__global__ void dequant_f16_kernel(const uint8_t* __restrict__ w, size_t row_bytes, __half* __restrict__ dst,
                                   int64_t n_rows, int cols) {
  const int n_chunks = cols / 32;
  const int64_t g = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (g >= n_rows * n_chunks) return;
  const int64_t row = g / n_chunks;
  const int c = static_cast<int>(g % n_chunks);
  constexpr int kChunksPerBlock = Fmt<T>::elems / 32;
  Chunk ch;
  Fmt<T>::decode(w + row * row_bytes + (c / kChunksPerBlock) * Fmt<T>::bytes, c % kChunksPerBlock, ch);
  store_chunk_f16(ch, dst + row * cols + c * 32);
}

__global__ void float_to_f16_kernel(DType t, const void* __restrict__ src, __half* __restrict__ dst, int64_t n) {
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x)
    dst[i] = __float2half_rn(float_weight(t, src, i));
}

// One block per output row.
template <DType T>
__global__ void get_rows_q_kernel(const uint8_t* __restrict__ table, size_t row_bytes, const int32_t* __restrict__ ids,
                                  float* __restrict__ out, int cols) {
  const uint8_t* src = table + static_cast<size_t>(ids[blockIdx.x]) * row_bytes;
  float* dst = out + static_cast<size_t>(blockIdx.x) * cols;
  constexpr int kChunksPerBlock = Fmt<T>::elems / 32;
  for (int c = threadIdx.x; c < cols / 32; c += blockDim.x) {
    Chunk ch;
    Fmt<T>::decode(src + (c / kChunksPerBlock) * Fmt<T>::bytes, c % kChunksPerBlock, ch);
#pragma unroll
    for (int e = 0; e < 32; ++e) dst[c * 32 + e] = chunk_value(ch, e);
  }
}

__global__ void get_rows_f_kernel(DType t, const uint8_t* __restrict__ table, size_t row_bytes,
                                  const int32_t* __restrict__ ids, float* __restrict__ out, int cols) {
  const uint8_t* src = table + static_cast<size_t>(ids[blockIdx.x]) * row_bytes;
  float* dst = out + static_cast<size_t>(blockIdx.x) * cols;
  for (int i = threadIdx.x; i < cols; i += blockDim.x) dst[i] = float_weight(t, src, i);
}

}  // namespace

void dequantize_f16(const Weight& w, __half* dst, int64_t n_rows, cudaStream_t stream) {
  const int cols = static_cast<int>(w.cols());
  const size_t rb = row_bytes(w.type, cols);
  const auto* src = static_cast<const uint8_t*>(w.data);
  switch (w.type) {
#define HEARTH_CASE(T)                                                                                  \
  case DType::T:                                                                                        \
    dequant_f16_kernel<DType::T><<<div_up(n_rows * (cols / 32), 256), 256, 0, stream>>>(src, rb, dst, n_rows, cols); \
    break;
    HEARTH_CUDA_FOR_EACH_QUANT(HEARTH_CASE)
#undef HEARTH_CASE
    case DType::F32:
    case DType::F16:
    case DType::BF16: {
      const int64_t n = n_rows * cols;
      float_to_f16_kernel<<<std::min<int64_t>(div_up(n, 256), 65535), 256, 0, stream>>>(w.type, src, dst, n);
      break;
    }
    default: throw Error("CUDA matmul: unsupported weight type " + std::string(dtype_name(w.type)));
  }
  check_launch("dequantize_f16");
}

void f32_to_f16(const float* x, __half* y, int64_t n, cudaStream_t stream) {
  float_to_f16_kernel<<<std::min<int64_t>(div_up(n, 256), 65535), 256, 0, stream>>>(DType::F32, x, y, n);
  check_launch("f32_to_f16");
}

void get_rows(const Weight& table, const int32_t* ids, int n, float* out, cudaStream_t stream) {
  if (n <= 0) return;
  const int cols = static_cast<int>(table.cols());
  const size_t rb = row_bytes(table.type, cols);
  const auto* src = static_cast<const uint8_t*>(table.data);
  switch (table.type) {
#define HEARTH_CASE(T)                                                                       \
  case DType::T:                                                                             \
    get_rows_q_kernel<DType::T><<<n, 128, 0, stream>>>(src, rb, ids, out, cols); \
    break;
    HEARTH_CUDA_FOR_EACH_QUANT(HEARTH_CASE)
#undef HEARTH_CASE
    case DType::F32:
    case DType::F16:
    case DType::BF16: get_rows_f_kernel<<<n, 256, 0, stream>>>(table.type, src, rb, ids, out, cols); break;
    default: throw Error("CUDA get_rows: unsupported table type " + std::string(dtype_name(table.type)));
  }
  check_launch("get_rows");
}

}  // namespace hearth::cuda

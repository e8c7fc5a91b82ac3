// Matrix-vector products for small batches (decode): one warp per weight row, four rows per block.
// Quantized weights: activations are quantized to int8 per 32 elements and each lane takes whole
// 32-weight chunks, decoded to packed int8 and dotted with dp4a. Float weights: 128-bit loads of 8
// weights and float activations (L1-resident). The weight stream is read exactly once per call.
#include <cstdint>
#include <string>

#include "backend/cuda/common.cuh"
#include "backend/cuda/kernels.h"

namespace hearth::cuda {
namespace {

constexpr int kRowsPerBlock = 4;

__device__ __forceinline__ float warp_sum(float v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

// One warp per 32-element chunk of x ([n_tokens, cols] seen as consecutive chunks).
__global__ void quantize_acts_kernel(const float* __restrict__ x, int8_t* __restrict__ q, float4* __restrict__ s,
                                     int64_t n_chunks) {
  const int64_t chunk = static_cast<int64_t>(blockIdx.x) * (blockDim.x / 32) + threadIdx.x / 32;
  if (chunk >= n_chunks) return;
  const int lane = threadIdx.x & 31;
  const float v = x[chunk * 32 + lane];
  float amax = fabsf(v);
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) amax = fmaxf(amax, __shfl_xor_sync(0xffffffffu, amax, o));
  const float d = amax / 127.0f, id = d > 0.0f ? 1.0f / d : 0.0f;
  q[chunk * 32 + lane] = static_cast<int8_t>(__float2int_rn(v * id));
  float sum = v;
#pragma unroll
  for (int o = 8; o > 0; o >>= 1) sum += __shfl_xor_sync(0xffffffffu, sum, o);
  int qsum = __float2int_rn(v * id);
#pragma unroll
  for (int o = 8; o > 0; o >>= 1) qsum += __shfl_xor_sync(0xffffffffu, qsum, o);
  const float hi = __shfl_sync(0xffffffffu, sum, 16);
  const int qhi = __shfl_sync(0xffffffffu, qsum, 16);
  if (lane == 0) s[chunk] = make_float4(d, sum, hi, __int_as_float((qsum & 0xffff) | (qhi << 16)));
}

// Each warp takes R rows (R > 1 shares the activation loads between rows).
template <DType T, int NT, int R>
__global__ void __launch_bounds__(32 * kRowsPerBlock)
    matvec_q_kernel(const uint8_t* __restrict__ w, size_t row_bytes, const int8_t* __restrict__ xq,
                    const float4* __restrict__ xs, float* __restrict__ y, int rows, int cols, int n_tokens) {
  const int row0 = (blockIdx.x * kRowsPerBlock + threadIdx.y) * R;
  if (row0 >= rows) return;
  const int lane = threadIdx.x;
  const int n_chunks = cols / 32;
  constexpr int kChunksPerBlock = Fmt<T>::elems / 32;
  const uint8_t* wr[R];
#pragma unroll
  for (int r = 0; r < R; ++r) wr[r] = w + static_cast<size_t>(min(row0 + r, rows - 1)) * row_bytes;
  float acc[R][NT];
#pragma unroll
  for (int r = 0; r < R; ++r)
#pragma unroll
    for (int t = 0; t < NT; ++t) acc[r][t] = 0.0f;
#pragma unroll 2
  for (int c = lane; c < n_chunks; c += 32) {
    Chunk ch[R];
#pragma unroll
    for (int r = 0; r < R; ++r)
      Fmt<T>::decode(wr[r] + (c / kChunksPerBlock) * Fmt<T>::bytes, c % kChunksPerBlock, ch[r]);
#pragma unroll
    for (int t = 0; t < NT; ++t) {
      if (NT > 1 && t >= n_tokens) break;
      const int4* xp = reinterpret_cast<const int4*>(xq + static_cast<size_t>(t) * cols + c * 32);
      const int4 a = __ldg(xp), b = __ldg(xp + 1);
      const float4 s = __ldg(xs + static_cast<size_t>(t) * n_chunks + c);
      const int packed = __float_as_int(s.w);
      const int qs0 = static_cast<int16_t>(packed & 0xffff), qs1 = packed >> 16;
#pragma unroll
      for (int r = 0; r < R; ++r) {
        const Chunk& k = ch[r];
        int i0 = __dp4a(k.v[0], a.x, -k.off * qs0);
        i0 = __dp4a(k.v[1], a.y, i0);
        i0 = __dp4a(k.v[2], a.z, i0);
        i0 = __dp4a(k.v[3], a.w, i0);
        int i1 = __dp4a(k.v[4], b.x, -k.off * qs1);
        i1 = __dp4a(k.v[5], b.y, i1);
        i1 = __dp4a(k.v[6], b.z, i1);
        i1 = __dp4a(k.v[7], b.w, i1);
        acc[r][t] += s.x * (k.d[0] * static_cast<float>(i0) + k.d[1] * static_cast<float>(i1)) + k.m[0] * s.y +
                     k.m[1] * s.z;
      }
    }
  }
#pragma unroll
  for (int r = 0; r < R; ++r)
#pragma unroll
    for (int t = 0; t < NT; ++t) {
      const float v = warp_sum(acc[r][t]);
      if (lane == 0 && t < n_tokens && row0 + r < rows) y[static_cast<size_t>(t) * rows + row0 + r] = v;
    }
}

// 8 consecutive weights of group g of a float row (16-byte aligned).
template <DType T>
__device__ __forceinline__ void load8(const void* row, int g, float* o) {
  if constexpr (T == DType::F32) {
    const float4* p = static_cast<const float4*>(row) + 2 * g;
    const float4 a = __ldg(p), b = __ldg(p + 1);
    o[0] = a.x, o[1] = a.y, o[2] = a.z, o[3] = a.w, o[4] = b.x, o[5] = b.y, o[6] = b.z, o[7] = b.w;
  } else {
    const uint4 u = __ldg(static_cast<const uint4*>(row) + g);
    const uint32_t words[4] = {u.x, u.y, u.z, u.w};
#pragma unroll
    for (int k = 0; k < 4; ++k) {
      if constexpr (T == DType::F16) {
        const float2 f = __half22float2(*reinterpret_cast<const __half2*>(&words[k]));
        o[2 * k] = f.x, o[2 * k + 1] = f.y;
      } else {
        o[2 * k] = __uint_as_float(words[k] << 16);
        o[2 * k + 1] = __uint_as_float(words[k] & 0xffff0000u);
      }
    }
  }
}

template <DType T, int NT, bool kVec>
__global__ void __launch_bounds__(32 * kRowsPerBlock)
    matvec_f_kernel(const void* __restrict__ w, const float* __restrict__ x, float* __restrict__ y, int rows, int cols,
                    int n_tokens) {
  const int row = blockIdx.x * kRowsPerBlock + threadIdx.y;
  if (row >= rows) return;
  const int lane = threadIdx.x;
  constexpr size_t kElemBytes = T == DType::F32 ? 4 : 2;
  const void* wr = static_cast<const uint8_t*>(w) + static_cast<size_t>(row) * cols * kElemBytes;
  float acc[NT];
#pragma unroll
  for (int t = 0; t < NT; ++t) acc[t] = 0.0f;
  if constexpr (kVec) {
#pragma unroll 2
    for (int g = lane; g < cols / 8; g += 32) {
      float wv[8];
      load8<T>(wr, g, wv);
#pragma unroll
      for (int t = 0; t < NT; ++t) {
        if (NT > 1 && t >= n_tokens) break;
        const float4* xp = reinterpret_cast<const float4*>(x + static_cast<size_t>(t) * cols) + 2 * g;
        const float4 a = __ldg(xp), b = __ldg(xp + 1);
        acc[t] += wv[0] * a.x + wv[1] * a.y + wv[2] * a.z + wv[3] * a.w + wv[4] * b.x + wv[5] * b.y + wv[6] * b.z +
                  wv[7] * b.w;
      }
    }
  } else {
    for (int i = lane; i < cols; i += 32) {
      const float wv = float_weight(T, wr, i);
#pragma unroll
      for (int t = 0; t < NT; ++t) {
        if (NT > 1 && t >= n_tokens) break;
        acc[t] += wv * x[static_cast<size_t>(t) * cols + i];
      }
    }
  }
#pragma unroll
  for (int t = 0; t < NT; ++t) {
    const float v = warp_sum(acc[t]);
    if (lane == 0 && t < n_tokens) y[static_cast<size_t>(t) * rows + row] = v;
  }
}

template <DType T, int NT>
void launch_q(const Weight& w, QuantizedActs a, float* y, int n_tokens, dim3 block, cudaStream_t stream) {
  const int rows = static_cast<int>(w.rows()), cols = static_cast<int>(w.cols());
  const size_t align = (T == DType::Q4_K || T == DType::Q5_K) ? 16 : 4;
  if (reinterpret_cast<uintptr_t>(w.data) % align != 0)
    throw Error("CUDA matmul: " + std::string(dtype_name(T)) + " weight data is not " + std::to_string(align) +
                "-byte aligned");
  constexpr int R = NT == 1 ? 1 : 2;
  matvec_q_kernel<T, NT, R><<<dim3(div_up(rows, kRowsPerBlock * R)), block, 0, stream>>>(
      static_cast<const uint8_t*>(w.data), row_bytes(T, cols), a.q, a.s, y, rows, cols, n_tokens);
}

template <DType T, int NT>
void launch_f(const Weight& w, const float* x, float* y, int n_tokens, dim3 grid, dim3 block, cudaStream_t stream) {
  const int rows = static_cast<int>(w.rows()), cols = static_cast<int>(w.cols());
  const bool vec =
      cols % 8 == 0 && reinterpret_cast<uintptr_t>(w.data) % 16 == 0 && reinterpret_cast<uintptr_t>(x) % 16 == 0;
  if (vec)
    matvec_f_kernel<T, NT, true><<<grid, block, 0, stream>>>(w.data, x, y, rows, cols, n_tokens);
  else
    matvec_f_kernel<T, NT, false><<<grid, block, 0, stream>>>(w.data, x, y, rows, cols, n_tokens);
}

template <int NT>
void matvec_nt(const Weight& w, const float* x, QuantizedActs a, float* y, int n_tokens, cudaStream_t stream) {
  const dim3 block(32, kRowsPerBlock), grid(div_up(w.rows(), kRowsPerBlock));
  switch (w.type) {
#define HEARTH_CASE(T) \
  case DType::T: launch_q<DType::T, NT>(w, a, y, n_tokens, block, stream); break;
    HEARTH_CUDA_FOR_EACH_QUANT(HEARTH_CASE)
#undef HEARTH_CASE
    case DType::F32: launch_f<DType::F32, NT>(w, x, y, n_tokens, grid, block, stream); break;
    case DType::F16: launch_f<DType::F16, NT>(w, x, y, n_tokens, grid, block, stream); break;
    case DType::BF16: launch_f<DType::BF16, NT>(w, x, y, n_tokens, grid, block, stream); break;
    default: throw Error("CUDA matmul: unsupported weight type " + std::string(dtype_name(w.type)));
  }
  check_launch("matvec");
}

}  // namespace

void quantize_acts(const float* x, QuantizedActs a, int n_tokens, int cols, cudaStream_t stream) {
  const int64_t n_chunks = static_cast<int64_t>(n_tokens) * (cols / 32);
  quantize_acts_kernel<<<div_up(n_chunks, 8), 256, 0, stream>>>(x, a.q, a.s, n_chunks);
  check_launch("quantize_acts");
}

void matvec(const Weight& w, const float* x, QuantizedActs a, float* y, int n_tokens, cudaStream_t stream) {
  if (n_tokens <= 1)
    matvec_nt<1>(w, x, a, y, n_tokens, stream);
  else if (n_tokens <= 2)
    matvec_nt<2>(w, x, a, y, n_tokens, stream);
  else if (n_tokens <= 4)
    matvec_nt<4>(w, x, a, y, n_tokens, stream);
  else
    matvec_nt<8>(w, x, a, y, n_tokens, stream);
}

}  // namespace hearth::cuda

// Shared pieces of the CUDA backend: error checks, launch helpers, and the per-type decoders that turn
// 32 consecutive weights of any block format into packed int8 values plus scales and offsets.
#pragma once
#include <cuda_fp16.h>
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <string>

#include "hearth/error.h"
#include "quant/dtype.h"

// #pragma unroll for the device pass only (the host pass of __host__ __device__ code would warn).
#ifdef __CUDA_ARCH__
#define HEARTH_UNROLL _Pragma("unroll")
#else
#define HEARTH_UNROLL
#endif

namespace hearth::cuda {

// Throws hearth::Error naming the failed call.
void check(cudaError_t e, const char* what);
inline void check_launch(const char* what) { check(cudaGetLastError(), what); }

inline unsigned div_up(int64_t a, int64_t b) { return static_cast<unsigned>((a + b - 1) / b); }
// Blocks of 256 for a grid-stride loop over n elements.
inline unsigned grid_for(size_t n) { return static_cast<unsigned>(std::min<size_t>((n + 255) / 256, 1u << 16)); }

// Sum over the block (blockDim.x a multiple of 32, at most 1024); every thread gets the total.
__device__ __forceinline__ float block_sum(float v, float* shared32) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  if (lane == 0) shared32[warp] = v;
  __syncthreads();
  if (warp == 0) {
    v = lane < static_cast<int>(blockDim.x / 32) ? shared32[lane] : 0.0f;
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    if (lane == 0) shared32[0] = v;
  }
  __syncthreads();
  const float total = shared32[0];
  __syncthreads();  // shared32 is reused by the next call
  return total;
}


// 32 weights decoded: w[e] = d[e / 16] * (q[e] - off) + m[e / 16], with q[e] byte e % 4 of v[e / 4] (signed).
// The integer dot subtracts off * sum(x_q) exactly; centering the unsigned codes this way keeps the error of
// the int8 activations small for the types with a min.
struct Chunk {
  int v[8];
  float d[2];
  float m[2];
  int off;
};

__host__ __device__ __forceinline__ __half __ushort_as_half_hd(uint16_t u) {
  __half_raw r;
  r.x = u;
  return __half(r);
}
__host__ __device__ __forceinline__ float ld_half(const uint8_t* p) {
  return __half2float(*reinterpret_cast<const __half*>(p));
}
// 32-bit little-endian load from a 2-byte aligned address.
__host__ __device__ __forceinline__ int ld_u32_a2(const uint8_t* p) {
  const uint16_t* h = reinterpret_cast<const uint16_t*>(p);
  return static_cast<int>(static_cast<uint32_t>(h[0]) | (static_cast<uint32_t>(h[1]) << 16));
}
__host__ __device__ __forceinline__ int ld_u32_a4(const uint8_t* p) { return *reinterpret_cast<const int*>(p); }

// N 32-bit words at a 2-byte aligned address p (word k = bytes p+4k..p+4k+3): N+1 aligned 32-bit loads and a
// funnel shift instead of 2N 16-bit loads. Reads up to 4 bytes past the last word (allocations are padded).
template <int N>
__host__ __device__ __forceinline__ void ld_words_a2(const uint8_t* p, int* out) {
  const uintptr_t a = reinterpret_cast<uintptr_t>(p);
  const uint32_t* w = reinterpret_cast<const uint32_t*>(a & ~uintptr_t{3});
  const bool odd = (a & 3) != 0;
  uint32_t prev = w[0];
  HEARTH_UNROLL
  for (int k = 0; k < N; ++k) {
    const uint32_t next = w[k + 1];
#ifdef __CUDA_ARCH__
    out[k] = static_cast<int>(odd ? __funnelshift_r(prev, next, 16) : prev);
#else
    out[k] = static_cast<int>(odd ? ((prev >> 16) | (next << 16)) : prev);
#endif
    prev = next;
  }
}

// Bits 0..3 of b become bit 4 of bytes 0..3.
__host__ __device__ __forceinline__ int spread4_bit4(uint32_t b) {
  return static_cast<int>(((b & 1u) << 4) | ((b & 2u) << 11) | ((b & 4u) << 18) | ((b & 8u) << 25));
}

// Block format traits. `elems` weights per block, `bytes` per block; decode() fills chunk j (0..elems/32-1).
template <DType T>
struct Fmt;

template <>
struct Fmt<DType::Q4_0> {
  static constexpr int elems = 32, bytes = 18;
  __host__ __device__ static void decode(const uint8_t* b, int, Chunk& c) {
    int w[5];  // bytes 0..19: d, qs
    ld_words_a2<5>(b, w);
    const float d = __half2float(__ushort_as_half_hd(static_cast<uint16_t>(w[0])));
HEARTH_UNROLL
    for (int k = 0; k < 4; ++k) {
      const int q = static_cast<int>((static_cast<uint32_t>(w[k]) >> 16) | (static_cast<uint32_t>(w[k + 1]) << 16));
      c.v[k] = q & 0x0F0F0F0F;
      c.v[k + 4] = (q >> 4) & 0x0F0F0F0F;
    }
    c.d[0] = c.d[1] = d;
    c.m[0] = c.m[1] = 0.0f;
    c.off = 8;
  }
};

template <>
struct Fmt<DType::Q4_1> {
  static constexpr int elems = 32, bytes = 20;
  __host__ __device__ static void decode(const uint8_t* b, int, Chunk& c) {
    const float d = ld_half(b), m = ld_half(b + 2);
HEARTH_UNROLL
    for (int k = 0; k < 4; ++k) {
      const int q = ld_u32_a4(b + 4 + 4 * k);
      c.v[k] = q & 0x0F0F0F0F;
      c.v[k + 4] = (q >> 4) & 0x0F0F0F0F;
    }
    c.d[0] = c.d[1] = d;
    c.m[0] = c.m[1] = m + 8.0f * d;
    c.off = 8;
  }
};

template <>
struct Fmt<DType::Q5_0> {
  static constexpr int elems = 32, bytes = 22;
  __host__ __device__ static void decode(const uint8_t* b, int, Chunk& c) {
    int w[6];  // bytes 0..23: d, qh, qs
    ld_words_a2<6>(b, w);
    auto word = [&](int byte) {  // the 32 bits at an even byte offset
      return (byte & 2) ? static_cast<int>((static_cast<uint32_t>(w[byte / 4]) >> 16) |
                                           (static_cast<uint32_t>(w[byte / 4 + 1]) << 16))
                        : w[byte / 4];
    };
    const float d = __half2float(__ushort_as_half_hd(static_cast<uint16_t>(w[0])));
    const uint32_t qh = static_cast<uint32_t>(word(2));
HEARTH_UNROLL
    for (int k = 0; k < 4; ++k) {
      const int q = word(6 + 4 * k);
      c.v[k] = (q & 0x0F0F0F0F) | spread4_bit4(qh >> (4 * k));
      c.v[k + 4] = ((q >> 4) & 0x0F0F0F0F) | spread4_bit4(qh >> (16 + 4 * k));
    }
    c.d[0] = c.d[1] = d;
    c.m[0] = c.m[1] = 0.0f;
    c.off = 16;
  }
};

template <>
struct Fmt<DType::Q5_1> {
  static constexpr int elems = 32, bytes = 24;
  __host__ __device__ static void decode(const uint8_t* b, int, Chunk& c) {
    const float d = ld_half(b), m = ld_half(b + 2);
    const uint32_t qh = static_cast<uint32_t>(ld_u32_a4(b + 4));
HEARTH_UNROLL
    for (int k = 0; k < 4; ++k) {
      const int q = ld_u32_a4(b + 8 + 4 * k);
      c.v[k] = (q & 0x0F0F0F0F) | spread4_bit4(qh >> (4 * k));
      c.v[k + 4] = ((q >> 4) & 0x0F0F0F0F) | spread4_bit4(qh >> (16 + 4 * k));
    }
    c.d[0] = c.d[1] = d;
    c.m[0] = c.m[1] = m + 16.0f * d;
    c.off = 16;
  }
};

template <>
struct Fmt<DType::Q8_0> {
  static constexpr int elems = 32, bytes = 34;
  __host__ __device__ static void decode(const uint8_t* b, int, Chunk& c) {
    int w[9];  // bytes 0..35: d, qs
    ld_words_a2<9>(b, w);
    const float d = __half2float(__ushort_as_half_hd(static_cast<uint16_t>(w[0])));
HEARTH_UNROLL
    for (int k = 0; k < 8; ++k)
      c.v[k] = static_cast<int>((static_cast<uint32_t>(w[k]) >> 16) | (static_cast<uint32_t>(w[k + 1]) << 16));
    c.d[0] = c.d[1] = d;
    c.m[0] = c.m[1] = 0.0f;
    c.off = 0;
  }
};

// k-quants: 256-element super-blocks, chunk j = elements 32j..32j+31.
template <>
struct Fmt<DType::Q2_K> {
  static constexpr int elems = 256, bytes = 84;
  __host__ __device__ static void decode(const uint8_t* b, int j, Chunk& c) {
    const float d = ld_half(b + 80), dmin = ld_half(b + 82);
    const uint8_t* qs = b + 16 + 32 * (j / 4);
    const int shift = 2 * (j % 4);
HEARTH_UNROLL
    for (int k = 0; k < 8; ++k) c.v[k] = (ld_u32_a4(qs + 4 * k) >> shift) & 0x03030303;
HEARTH_UNROLL
    for (int h = 0; h < 2; ++h) {
      const uint8_t sc = b[2 * j + h];
      c.d[h] = d * (sc & 0xF);
      c.m[h] = -dmin * (sc >> 4) + 2.0f * c.d[h];
    }
    c.off = 2;
  }
};

template <>
struct Fmt<DType::Q3_K> {
  static constexpr int elems = 256, bytes = 110;
  __host__ __device__ static void decode(const uint8_t* b, int j, Chunk& c) {
    const float d = ld_half(b + 108);
    const uint8_t* qs = b + 32 + 32 * (j / 4);
    const int shift = 2 * (j % 4);
HEARTH_UNROLL
    for (int k = 0; k < 8; ++k) {
      const int lo = (ld_u32_a2(qs + 4 * k) >> shift) & 0x03030303;
      const int hi = (ld_u32_a2(b + 4 * k) >> j) & 0x01010101;
      c.v[k] = lo | (hi << 2);
    }
    const uint8_t* s = b + 96;
HEARTH_UNROLL
    for (int h = 0; h < 2; ++h) {
      const int idx = 2 * j + h;
      const int lo = idx < 8 ? (s[idx] & 0xF) : (s[idx - 8] >> 4);
      const int hi = (s[8 + idx % 4] >> (2 * (idx / 4))) & 3;
      c.d[h] = d * static_cast<float>((lo | (hi << 4)) - 32);
      c.m[h] = 0.0f;
    }
    c.off = 4;
  }
};

// The 6-bit scale and min of sub-block j of a Q4_K / Q5_K super-block (scales at s).
__host__ __device__ __forceinline__ void scale_min_k4(int j, const uint8_t* s, int& sc, int& m) {
  if (j < 4) {
    sc = s[j] & 63;
    m = s[j + 4] & 63;
  } else {
    sc = (s[j + 4] & 0xF) | ((s[j - 4] >> 6) << 4);
    m = (s[j + 4] >> 4) | ((s[j] >> 6) << 4);
  }
}

template <>
struct Fmt<DType::Q4_K> {
  static constexpr int elems = 256, bytes = 144;
  __host__ __device__ static void decode(const uint8_t* b, int j, Chunk& c) {
    const float d = ld_half(b), dmin = ld_half(b + 2);
    const int4* qs = reinterpret_cast<const int4*>(b + 16 + 32 * (j / 2));
    const int4 a = qs[0], e = qs[1];
    const int w[8] = {a.x, a.y, a.z, a.w, e.x, e.y, e.z, e.w};
    const int shift = 4 * (j & 1);
HEARTH_UNROLL
    for (int k = 0; k < 8; ++k) c.v[k] = (w[k] >> shift) & 0x0F0F0F0F;
    int sc, m;
    scale_min_k4(j, b + 4, sc, m);
    c.d[0] = c.d[1] = d * sc;
    c.m[0] = c.m[1] = -dmin * m + 8.0f * c.d[0];
    c.off = 8;
  }
};

template <>
struct Fmt<DType::Q5_K> {
  static constexpr int elems = 256, bytes = 176;
  __host__ __device__ static void decode(const uint8_t* b, int j, Chunk& c) {
    const float d = ld_half(b), dmin = ld_half(b + 2);
    const int4* qs = reinterpret_cast<const int4*>(b + 48 + 32 * (j / 2));
    const int4* qh = reinterpret_cast<const int4*>(b + 16);
    const int4 a = qs[0], e = qs[1], ha = qh[0], hb = qh[1];
    const int w[8] = {a.x, a.y, a.z, a.w, e.x, e.y, e.z, e.w};
    const int hw[8] = {ha.x, ha.y, ha.z, ha.w, hb.x, hb.y, hb.z, hb.w};
    const int shift = 4 * (j & 1);
HEARTH_UNROLL
    for (int k = 0; k < 8; ++k)
      c.v[k] = ((w[k] >> shift) & 0x0F0F0F0F) | (((static_cast<uint32_t>(hw[k]) >> j) & 0x01010101u) << 4);
    int sc, m;
    scale_min_k4(j, b + 4, sc, m);
    c.d[0] = c.d[1] = d * sc;
    c.m[0] = c.m[1] = -dmin * m + 16.0f * c.d[0];
    c.off = 16;
  }
};

template <>
struct Fmt<DType::Q6_K> {
  static constexpr int elems = 256, bytes = 210;
  __host__ __device__ static void decode(const uint8_t* b, int j, Chunk& c) {
    const float d = ld_half(b + 208);
    const int half = j / 4, quarter = j % 4;
    const uint8_t* ql = b + 64 * half + 32 * (quarter & 1);
    const uint8_t* qh = b + 128 + 32 * half;
    const int lshift = quarter < 2 ? 0 : 4, hshift = 2 * quarter;
HEARTH_UNROLL
    for (int k = 0; k < 8; ++k) {
      const int lo = (static_cast<uint32_t>(ld_u32_a2(ql + 4 * k)) >> lshift) & 0x0F0F0F0F;
      const int hi = (static_cast<uint32_t>(ld_u32_a2(qh + 4 * k)) >> hshift) & 0x03030303;
      c.v[k] = lo | (hi << 4);
    }
    const int8_t* sc = reinterpret_cast<const int8_t*>(b + 192);
    c.d[0] = d * sc[2 * j];
    c.d[1] = d * sc[2 * j + 1];
    c.m[0] = c.m[1] = 0.0f;
    c.off = 32;
  }
};

// M(T) for every block-quantized type this backend runs (T a DType enumerator name).
#define HEARTH_CUDA_FOR_EACH_QUANT(M) \
  M(Q4_0) M(Q4_1) M(Q5_0) M(Q5_1) M(Q8_0) M(Q2_K) M(Q3_K) M(Q4_K) M(Q5_K) M(Q6_K)

inline bool is_block_quant(DType t) {
  switch (t) {
#define HEARTH_CASE(T) case DType::T:
    HEARTH_CUDA_FOR_EACH_QUANT(HEARTH_CASE)
#undef HEARTH_CASE
    return true;
    default: return false;
  }
}

// Element e of a chunk as a float.
__host__ __device__ __forceinline__ float chunk_value(const Chunk& c, int e) {
  const int8_t q = static_cast<int8_t>(c.v[e / 4] >> (8 * (e % 4)));
  return c.d[e / 16] * static_cast<float>(q - c.off) + c.m[e / 16];
}

// A row of n weights of a float type: element i.
__host__ __device__ __forceinline__ float float_weight(DType t, const void* row, int64_t i) {
  if (t == DType::F32) return static_cast<const float*>(row)[i];
  if (t == DType::F16) return __half2float(static_cast<const __half*>(row)[i]);
  return __bfloat162float(static_cast<const __nv_bfloat16*>(row)[i]);
}

}  // namespace hearth::cuda

// Shared pieces of the CUDA backend: error checks, launch helpers, and the per-type decoders that turn
// 32 consecutive weights of any block format into packed int8 values plus scales and offsets.
#pragma once
#include <cuda_fp16.h>
#include <cuda_bf16.h>
#include <cuda_runtime.h>

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

// 32 weights decoded: w[e] = d[e / 16] * q[e] + m[e / 16], with q[e] byte e % 4 of v[e / 4] (signed).
struct Chunk {
  int v[8];
  float d[2];
  float m[2];
};

__host__ __device__ __forceinline__ float ld_half(const uint8_t* p) {
  return __half2float(*reinterpret_cast<const __half*>(p));
}
// 32-bit little-endian load from a 2-byte aligned address.
__host__ __device__ __forceinline__ int ld_u32_a2(const uint8_t* p) {
  const uint16_t* h = reinterpret_cast<const uint16_t*>(p);
  return static_cast<int>(static_cast<uint32_t>(h[0]) | (static_cast<uint32_t>(h[1]) << 16));
}
__host__ __device__ __forceinline__ int ld_u32_a4(const uint8_t* p) { return *reinterpret_cast<const int*>(p); }

// Bytewise a - b (no overflow occurs in the decoders); host version for tests.
__host__ __device__ __forceinline__ int vsub4(int a, int b) {
#ifdef __CUDA_ARCH__
  return __vsubss4(a, b);
#else
  uint32_t r = 0;
  for (int k = 0; k < 4; ++k)
    r |= (static_cast<uint32_t>(static_cast<uint8_t>((a >> (8 * k)) - (b >> (8 * k))))) << (8 * k);
  return static_cast<int>(r);
#endif
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
    const float d = ld_half(b);
HEARTH_UNROLL
    for (int k = 0; k < 4; ++k) {
      const int q = ld_u32_a2(b + 2 + 4 * k);
      c.v[k] = vsub4(q & 0x0F0F0F0F, 0x08080808);
      c.v[k + 4] = vsub4((q >> 4) & 0x0F0F0F0F, 0x08080808);
    }
    c.d[0] = c.d[1] = d;
    c.m[0] = c.m[1] = 0.0f;
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
    c.m[0] = c.m[1] = m;
  }
};

template <>
struct Fmt<DType::Q5_0> {
  static constexpr int elems = 32, bytes = 22;
  __host__ __device__ static void decode(const uint8_t* b, int, Chunk& c) {
    const float d = ld_half(b);
    const uint32_t qh = static_cast<uint32_t>(ld_u32_a2(b + 2));
HEARTH_UNROLL
    for (int k = 0; k < 4; ++k) {
      const int q = ld_u32_a2(b + 6 + 4 * k);
      c.v[k] = vsub4((q & 0x0F0F0F0F) | spread4_bit4(qh >> (4 * k)), 0x10101010);
      c.v[k + 4] = vsub4(((q >> 4) & 0x0F0F0F0F) | spread4_bit4(qh >> (16 + 4 * k)), 0x10101010);
    }
    c.d[0] = c.d[1] = d;
    c.m[0] = c.m[1] = 0.0f;
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
    c.m[0] = c.m[1] = m;
  }
};

template <>
struct Fmt<DType::Q8_0> {
  static constexpr int elems = 32, bytes = 34;
  __host__ __device__ static void decode(const uint8_t* b, int, Chunk& c) {
    const float d = ld_half(b);
HEARTH_UNROLL
    for (int k = 0; k < 8; ++k) c.v[k] = ld_u32_a2(b + 2 + 4 * k);
    c.d[0] = c.d[1] = d;
    c.m[0] = c.m[1] = 0.0f;
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
      c.m[h] = -dmin * (sc >> 4);
    }
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
      c.v[k] = vsub4(lo | (hi << 2), 0x04040404);
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
    c.m[0] = c.m[1] = -dmin * m;
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
    c.m[0] = c.m[1] = -dmin * m;
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
      c.v[k] = vsub4(lo | (hi << 4), 0x20202020);
    }
    const int8_t* sc = reinterpret_cast<const int8_t*>(b + 192);
    c.d[0] = d * sc[2 * j];
    c.d[1] = d * sc[2 * j + 1];
    c.m[0] = c.m[1] = 0.0f;
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
  return c.d[e / 16] * q + c.m[e / 16];
}

// A row of n weights of a float type: element i.
__host__ __device__ __forceinline__ float float_weight(DType t, const void* row, int64_t i) {
  if (t == DType::F32) return static_cast<const float*>(row)[i];
  if (t == DType::F16) return __half2float(static_cast<const __half*>(row)[i]);
  return __bfloat162float(static_cast<const __nv_bfloat16*>(row)[i]);
}

}  // namespace hearth::cuda

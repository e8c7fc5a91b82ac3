// x86 tile kernels written once with 256-bit intrinsics and compiled twice: kernels_avx2.cpp (AVX2 + FMA + F16C)
// and kernels_avx512.cpp (the same code with 32 vector registers, VNNI for the 8-bit products, wider tiles).
// Include only from those files, after defining HEARTH_KERNEL_VNNI (0/1) and HEARTH_KERNEL_NS.
#include <immintrin.h>
// GCC 12 reports the _mm512_undefined_* placeholders inside its own AVX-512 intrinsics as (maybe-)uninitialized.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"

#include <cmath>
#include <cstring>
#include <type_traits>

#include "backend/cpu/kernels.h"
#include "backend/cpu/prefetch.h"
#include "quant/blocks.h"

namespace hearth::cpu::HEARTH_KERNEL_NS {
namespace {

using namespace hearth::q;

inline float h2f(uint16_t h) { return _cvtsh_ss(h); }

inline float hsum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

// acc + sums of four u8 * s8 products (int32 lanes).
inline __m256i dot_u8s8(__m256i acc, __m256i u, __m256i s) {
#if HEARTH_KERNEL_VNNI
  return _mm256_dpbusd_epi32(acc, u, s);
#else
  return _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1)));
#endif
}

// Sums of pairs of u8 * s8 products, each pair sum times the int16 scale in its lane (int32 lanes).
inline __m256i dot_u8s8_scaled(__m256i u, __m256i s, __m256i scale16) {
  return _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), scale16);
}

inline __m256i loadu(const void* p) { return _mm256_loadu_si256(static_cast<const __m256i*>(p)); }

// 0xFF in byte j where bit j of x is set.
inline __m256i bytes_from_bits(uint32_t x) {
  const __m256i shuf = _mm256_set_epi64x(0x0303030303030303, 0x0202020202020202, 0x0101010101010101, 0);
  __m256i v = _mm256_shuffle_epi8(_mm256_set1_epi32(static_cast<int>(x)), shuf);
  v = _mm256_or_si256(v, _mm256_set1_epi64x(0x7fbfdfeff7fbfdfe));
  return _mm256_cmpeq_epi8(v, _mm256_set1_epi64x(-1));
}

// The 32 nibbles of a 16-byte Q4 payload in element order (low nibbles first), as u8 0..15.
inline __m256i nibbles32(const uint8_t* qs) {
  __m128i b = _mm_loadu_si128(reinterpret_cast<const __m128i*>(qs));
  const __m128i m = _mm_set1_epi8(0x0f);
  return _mm256_set_m128i(_mm_and_si128(_mm_srli_epi16(b, 4), m), _mm_and_si128(b, m));
}

inline uint32_t load_u32(const uint8_t* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}

// ---------------------------------------------------------------------------------------------
// 32-blocks with Q8_0 activations: each weight block becomes 32 signed bytes and a scale.

struct Q4_0T {
  using Block = BlockQ4_0;
  static __m256i values(const Block& b) { return _mm256_sub_epi8(nibbles32(b.qs), _mm256_set1_epi8(8)); }
};
struct Q5_0T {
  using Block = BlockQ5_0;
  static __m256i values(const Block& b) {
    __m256i hi = _mm256_and_si256(bytes_from_bits(load_u32(b.qh)), _mm256_set1_epi8(0x10));
    return _mm256_sub_epi8(_mm256_or_si256(nibbles32(b.qs), hi), _mm256_set1_epi8(16));
  }
};
struct Q8_0T {
  using Block = BlockQ8_0;
  static __m256i values(const Block& b) { return loadu(b.qs); }
};

template <typename Tr, int R, int T>
void tile_q8_0_family(int64_t n, const uint8_t* const* w, const uint8_t* const* x, float* out) {
  using Block = typename Tr::Block;
  const int64_t nb = n / QK;
  __m256 acc[R][T];
  for (int r = 0; r < R; ++r)
    for (int t = 0; t < T; ++t) acc[r][t] = _mm256_setzero_ps();
  for (int64_t b = 0; b < nb; ++b) {
    __m256i wa[R], wv[R];
    float dw[R];
    for (int r = 0; r < R; ++r) {
      const Block& blk = reinterpret_cast<const Block*>(w[r])[b];
      wv[r] = Tr::values(blk);
      wa[r] = _mm256_sign_epi8(wv[r], wv[r]);
      dw[r] = h2f(blk.d);
    }
    for (int t = 0; t < T; ++t) {
      const BlockQ8_0& xb = reinterpret_cast<const BlockQ8_0*>(x[t])[b];
      __m256i xv = loadu(xb.qs);
      float dx = h2f(xb.d);
      for (int r = 0; r < R; ++r) {
        __m256i p = dot_u8s8(_mm256_setzero_si256(), wa[r], _mm256_sign_epi8(xv, wv[r]));
        acc[r][t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p), _mm256_set1_ps(dw[r] * dx), acc[r][t]);
      }
    }
  }
  for (int r = 0; r < R; ++r)
    for (int t = 0; t < T; ++t) out[r * T + t] = hsum(acc[r][t]);
}

// 32-blocks with a minimum and Q8_1 activations: unsigned values, plus m * s per block.
struct Q4_1T {
  using Block = BlockQ4_1;
  static __m256i values(const Block& b) { return nibbles32(b.qs); }
};
struct Q5_1T {
  using Block = BlockQ5_1;
  static __m256i values(const Block& b) {
    return _mm256_or_si256(nibbles32(b.qs), _mm256_and_si256(bytes_from_bits(load_u32(b.qh)), _mm256_set1_epi8(0x10)));
  }
};

template <typename Tr, int R, int T>
void tile_q8_1_family(int64_t n, const uint8_t* const* w, const uint8_t* const* x, float* out) {
  using Block = typename Tr::Block;
  const int64_t nb = n / QK;
  __m256 acc[R][T];
  float accm[R][T] = {};
  for (int r = 0; r < R; ++r)
    for (int t = 0; t < T; ++t) acc[r][t] = _mm256_setzero_ps();
  for (int64_t b = 0; b < nb; ++b) {
    __m256i wv[R];
    float dw[R], mw[R];
    for (int r = 0; r < R; ++r) {
      const Block& blk = reinterpret_cast<const Block*>(w[r])[b];
      wv[r] = Tr::values(blk);
      dw[r] = h2f(blk.d);
      mw[r] = h2f(blk.m);
    }
    for (int t = 0; t < T; ++t) {
      const BlockQ8_1& xb = reinterpret_cast<const BlockQ8_1*>(x[t])[b];
      __m256i xv = loadu(xb.qs);
      float dx = h2f(xb.d), sx = h2f(xb.s);
      for (int r = 0; r < R; ++r) {
        __m256i p = dot_u8s8(_mm256_setzero_si256(), wv[r], xv);
        acc[r][t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p), _mm256_set1_ps(dw[r] * dx), acc[r][t]);
        accm[r][t] += mw[r] * sx;
      }
    }
  }
  for (int r = 0; r < R; ++r)
    for (int t = 0; t < T; ++t) out[r * T + t] = hsum(acc[r][t]) + accm[r][t];
}

// ---------------------------------------------------------------------------------------------
// k-quants with Q8_K activations. A super-block is 8 chunks of 32 elements; each type gives, per chunk,
// 32 unsigned values and an int16 scale per 16 elements. The rest of the block's dot is
//   d * dx * (sum of chunk products + bsums . offs)  -  dmin * dx * (bsums . mins)
// where offs folds a constant subtracted from the values (Q3_K: 4, Q6_K: 32) and mins is the k-quant minimum.

// A super-block's header in registers. Scales are int16, broadcast to both 128-bit lanes so that one byte
// shuffle per chunk yields that chunk's scale vector.
struct SuperBlock {
  float d = 0, dmin = 0;
  __m256i s_lo, s_hi;  // 16-granular types: scales 0..7 and 8..15; 32-granular: s_lo holds the 8 scales
  __m256i offs;        // per 16 elements: -offset * scale (types with an offset)
  __m256i mins;        // per 16 elements (types with a minimum)
};

inline __m256i bcast128(__m128i v) { return _mm256_broadcastsi128_si256(v); }

// Chunk c's scale vector [s[2c] x 8, s[2c+1] x 8] for the 16-granular types.
inline __m256i chunk_scales16(const SuperBlock& sb, int c) {
  const int k = c % 4;
  const __m256i mask = _mm256_setr_epi8(
      4 * k, 4 * k + 1, 4 * k, 4 * k + 1, 4 * k, 4 * k + 1, 4 * k, 4 * k + 1, 4 * k, 4 * k + 1, 4 * k, 4 * k + 1,
      4 * k, 4 * k + 1, 4 * k, 4 * k + 1, 4 * k + 2, 4 * k + 3, 4 * k + 2, 4 * k + 3, 4 * k + 2, 4 * k + 3, 4 * k + 2,
      4 * k + 3, 4 * k + 2, 4 * k + 3, 4 * k + 2, 4 * k + 3, 4 * k + 2, 4 * k + 3, 4 * k + 2, 4 * k + 3);
  return _mm256_shuffle_epi8(c < 4 ? sb.s_lo : sb.s_hi, mask);
}
// Chunk c's scale broadcast for the 32-granular types.
inline __m256i chunk_scales32(const SuperBlock& sb, int c) {
  return _mm256_shuffle_epi8(sb.s_lo, _mm256_set1_epi16(static_cast<int16_t>((2 * c) | ((2 * c + 1) << 8))));
}

// Header from 16 int16 scales (16-granular types).
inline void set_scales16(SuperBlock& sb, __m256i s16) {
  sb.s_lo = bcast128(_mm256_castsi256_si128(s16));
  sb.s_hi = bcast128(_mm256_extracti128_si256(s16, 1));
}

struct Q2_KT {
  using Block = BlockQ2_K;
  static constexpr bool kHasMin = true, kHasOffs = false, kScales32 = false;
  static void header(const Block& b, SuperBlock& s) {
    s.d = h2f(b.d);
    s.dmin = h2f(b.dmin);
    __m256i v = _mm256_cvtepu8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(b.scales)));
    set_scales16(s, _mm256_and_si256(v, _mm256_set1_epi16(0xf)));
    s.mins = _mm256_srli_epi16(v, 4);
  }
  static __m256i chunk(const Block& b, int c) {
    __m256i q = loadu(b.qs + 32 * (c / 4));
    return _mm256_and_si256(_mm256_srli_epi16(q, 2 * (c % 4)), _mm256_set1_epi8(3));
  }
};

struct Q3_KT {
  using Block = BlockQ3_K;
  static constexpr bool kHasMin = false, kHasOffs = true, kScales32 = false;
  static void header(const Block& b, SuperBlock& s) {
    s.d = h2f(b.d);
    int8_t sc[16];
    q3k_scales(b.scales, sc);
    __m256i v = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(sc)));
    set_scales16(s, v);
    s.offs = _mm256_sub_epi16(_mm256_setzero_si256(), _mm256_slli_epi16(v, 2));
  }
  static __m256i chunk(const Block& b, int c) {
    __m256i q = _mm256_and_si256(_mm256_srli_epi16(loadu(b.qs + 32 * (c / 4)), 2 * (c % 4)), _mm256_set1_epi8(3));
    const __m256i bit = _mm256_set1_epi8(static_cast<char>(1 << c));
    __m256i h = _mm256_cmpeq_epi8(_mm256_and_si256(loadu(b.hmask), bit), bit);
    return _mm256_or_si256(q, _mm256_and_si256(h, _mm256_set1_epi8(4)));
  }
};

template <bool kFive>
struct Q45_KT {
  using Block = std::conditional_t<kFive, BlockQ5_K, BlockQ4_K>;
  static constexpr bool kHasMin = true, kHasOffs = false, kScales32 = true;
  static void header(const Block& b, SuperBlock& s) {
    s.d = h2f(b.d);
    s.dmin = h2f(b.dmin);
    // The 6-bit scales and mins unpacked four at a time (see scale_min_k4).
    uint32_t u0 = load_u32(b.scales), u1 = load_u32(b.scales + 4), u2 = load_u32(b.scales + 8);
    uint32_t sc03 = u0 & 0x3f3f3f3f, m03 = u1 & 0x3f3f3f3f;
    uint32_t sc47 = (u2 & 0x0f0f0f0f) | (((u0 >> 6) & 0x03030303) << 4);
    uint32_t m47 = ((u2 >> 4) & 0x0f0f0f0f) | (((u1 >> 6) & 0x03030303) << 4);
    __m256i v = _mm256_cvtepu8_epi16(_mm_set_epi32(static_cast<int>(m47), static_cast<int>(m03),
                                                   static_cast<int>(sc47), static_cast<int>(sc03)));
    s.s_lo = bcast128(_mm256_castsi256_si128(v));
    // Mins per 16 elements: [m0 m0 m1 m1 m2 m2 m3 m3 | m4 m4 m5 m5 m6 m6 m7 m7].
    const __m256i dup = _mm256_setr_epi8(0, 1, 0, 1, 2, 3, 2, 3, 4, 5, 4, 5, 6, 7, 6, 7,
                                         8, 9, 8, 9, 10, 11, 10, 11, 12, 13, 12, 13, 14, 15, 14, 15);
    s.mins = _mm256_shuffle_epi8(bcast128(_mm256_extracti128_si256(v, 1)), dup);
  }
  static __m256i chunk(const Block& b, int c) {
    __m256i q = _mm256_and_si256(_mm256_srli_epi16(loadu(b.qs + 32 * (c / 2)), 4 * (c & 1)), _mm256_set1_epi8(0x0f));
    if constexpr (kFive) {
      const __m256i bit = _mm256_set1_epi8(static_cast<char>(1 << c));
      __m256i h = _mm256_cmpeq_epi8(_mm256_and_si256(loadu(b.qh), bit), bit);
      q = _mm256_or_si256(q, _mm256_and_si256(h, _mm256_set1_epi8(0x10)));
    }
    return q;
  }
};

struct Q6_KT {
  using Block = BlockQ6_K;
  static constexpr bool kHasMin = false, kHasOffs = true, kScales32 = false;
  static void header(const Block& b, SuperBlock& s) {
    s.d = h2f(b.d);
    __m256i v = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(b.scales)));
    set_scales16(s, v);
    s.offs = _mm256_sub_epi16(_mm256_setzero_si256(), _mm256_slli_epi16(v, 5));
  }
  static __m256i chunk(const Block& b, int c) {
    const int half = c / 4, quarter = c % 4;
    __m256i lb = loadu(b.ql + 64 * half + 32 * (quarter & 1));
    __m256i lo = _mm256_and_si256(_mm256_srli_epi16(lb, 4 * (quarter / 2)), _mm256_set1_epi8(0x0f));
    __m256i hi = _mm256_and_si256(_mm256_srli_epi16(loadu(b.qh + 32 * half), 2 * quarter), _mm256_set1_epi8(3));
    return _mm256_or_si256(lo, _mm256_slli_epi16(hi, 4));
  }
};

template <typename Tr, int R, int T>
void tile_k(int64_t n, const uint8_t* const* w, const uint8_t* const* x, float* out) {
  using Block = typename Tr::Block;
  const int64_t nb = n / QK_K;
  __m256 acc[R][T];
  for (int r = 0; r < R; ++r)
    for (int t = 0; t < T; ++t) acc[r][t] = _mm256_setzero_ps();
  for (int64_t i = 0; i < nb; ++i) {
    SuperBlock sb[R];
    for (int r = 0; r < R; ++r) Tr::header(reinterpret_cast<const Block*>(w[r])[i], sb[r]);
    __m256i sumi[R][T];
    for (int t = 0; t < T; ++t) {
      const __m256i bsums = loadu(reinterpret_cast<const BlockQ8_K*>(x[t])[i].bsums);
      for (int r = 0; r < R; ++r) {
        if constexpr (Tr::kHasOffs)
          sumi[r][t] = _mm256_madd_epi16(bsums, sb[r].offs);
        else
          sumi[r][t] = _mm256_setzero_si256();
      }
    }
    for (int c = 0; c < 8; ++c) {
      __m256i q[R], sc[R];
      for (int r = 0; r < R; ++r) {
        q[r] = Tr::chunk(reinterpret_cast<const Block*>(w[r])[i], c);
        sc[r] = Tr::kScales32 ? chunk_scales32(sb[r], c) : chunk_scales16(sb[r], c);
      }
      for (int t = 0; t < T; ++t) {
        __m256i xv = loadu(reinterpret_cast<const BlockQ8_K*>(x[t])[i].qs + 32 * c);
        for (int r = 0; r < R; ++r) sumi[r][t] = _mm256_add_epi32(sumi[r][t], dot_u8s8_scaled(q[r], xv, sc[r]));
      }
    }
    for (int t = 0; t < T; ++t) {
      const BlockQ8_K& xb = reinterpret_cast<const BlockQ8_K*>(x[t])[i];
      for (int r = 0; r < R; ++r) {
        acc[r][t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sumi[r][t]), _mm256_set1_ps(sb[r].d * xb.d), acc[r][t]);
        if constexpr (Tr::kHasMin) {
          __m256i m = _mm256_madd_epi16(loadu(xb.bsums), sb[r].mins);
          acc[r][t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(m), _mm256_set1_ps(-sb[r].dmin * xb.d), acc[r][t]);
        }
      }
    }
  }
  for (int r = 0; r < R; ++r)
    for (int t = 0; t < T; ++t) out[r * T + t] = hsum(acc[r][t]);
}

// ---------------------------------------------------------------------------------------------
// Float weights (F16, BF16, F32) with F32 activations.

struct F16T {
  static __m256 load8(const uint8_t* p) { return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))); }
#if HEARTH_KERNEL_VNNI
  static __m512 load16(const uint8_t* p) { return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p))); }
#endif
  static float one(const uint8_t* p) { uint16_t h; std::memcpy(&h, p, 2); return h2f(h); }
  static constexpr int kBytes = 2;
};
struct BF16T {
  static __m256 load8(const uint8_t* p) {
    __m256i v = _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
    return _mm256_castsi256_ps(_mm256_slli_epi32(v, 16));
  }
#if HEARTH_KERNEL_VNNI
  static __m512 load16(const uint8_t* p) {
    __m512i v = _mm512_cvtepu16_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
    return _mm512_castsi512_ps(_mm512_slli_epi32(v, 16));
  }
#endif
  static float one(const uint8_t* p) { uint16_t h; std::memcpy(&h, p, 2); return bf16_to_f32(h); }
  static constexpr int kBytes = 2;
};
struct F32T {
  static __m256 load8(const uint8_t* p) { return _mm256_loadu_ps(reinterpret_cast<const float*>(p)); }
#if HEARTH_KERNEL_VNNI
  static __m512 load16(const uint8_t* p) { return _mm512_loadu_ps(reinterpret_cast<const float*>(p)); }
#endif
  static float one(const uint8_t* p) { float f; std::memcpy(&f, p, 4); return f; }
  static constexpr int kBytes = 4;
};

template <typename Tr, int R, int T>
void tile_float(int64_t n, const uint8_t* const* w, const uint8_t* const* x, float* out) {
  __m256 acc[R][T];
  for (int r = 0; r < R; ++r)
    for (int t = 0; t < T; ++t) acc[r][t] = _mm256_setzero_ps();
  int64_t k = 0;
  for (; k + 8 <= n; k += 8) {
    if constexpr (T == 1)
      if ((k * Tr::kBytes) % 64 == 0)
        for (int r = 0; r < R; ++r) prefetch_ahead(w[r] + k * Tr::kBytes, 64);
    __m256 wv[R];
    for (int r = 0; r < R; ++r) wv[r] = Tr::load8(w[r] + k * Tr::kBytes);
    for (int t = 0; t < T; ++t) {
      __m256 xv = _mm256_loadu_ps(reinterpret_cast<const float*>(x[t]) + k);
      for (int r = 0; r < R; ++r) acc[r][t] = _mm256_fmadd_ps(wv[r], xv, acc[r][t]);
    }
  }
  for (int r = 0; r < R; ++r)
    for (int t = 0; t < T; ++t) {
      float s = hsum(acc[r][t]);
      for (int64_t j = k; j < n; ++j) s += Tr::one(w[r] + j * Tr::kBytes) * reinterpret_cast<const float*>(x[t])[j];
      out[r * T + t] = s;
    }
}

#if HEARTH_KERNEL_VNNI
// The same with 512-bit registers (prompt tiles): twice the multiply-adds per instruction.
template <typename Tr, int R, int T>
void tile_float512(int64_t n, const uint8_t* const* w, const uint8_t* const* x, float* out) {
  __m512 acc[R][T];
  for (int r = 0; r < R; ++r)
    for (int t = 0; t < T; ++t) acc[r][t] = _mm512_setzero_ps();
  int64_t k = 0;
  for (; k + 16 <= n; k += 16) {
    if constexpr (T == 1)
      if ((k * Tr::kBytes) % 64 == 0)
        for (int r = 0; r < R; ++r) prefetch_ahead(w[r] + k * Tr::kBytes, 64);
    __m512 wv[R];
    for (int r = 0; r < R; ++r) wv[r] = Tr::load16(w[r] + k * Tr::kBytes);
    for (int t = 0; t < T; ++t) {
      __m512 xv = _mm512_loadu_ps(reinterpret_cast<const float*>(x[t]) + k);
      for (int r = 0; r < R; ++r) acc[r][t] = _mm512_fmadd_ps(wv[r], xv, acc[r][t]);
    }
  }
  for (int r = 0; r < R; ++r)
    for (int t = 0; t < T; ++t) {
      float s = _mm512_reduce_add_ps(acc[r][t]);
      for (int64_t j = k; j < n; ++j) s += Tr::one(w[r] + j * Tr::kBytes) * reinterpret_cast<const float*>(x[t])[j];
      out[r * T + t] = s;
    }
}
#endif

// ---------------------------------------------------------------------------------------------

#if HEARTH_KERNEL_VNNI
constexpr int kDecodeRows = 4, kGemmRows = 4, kGemmTokens = 4, kKRows = 4, kKTokens = 2;
#else
constexpr int kDecodeRows = 4, kGemmRows = 2, kGemmTokens = 4, kKRows = 2, kKTokens = 2;
#endif

// ---------------------------------------------------------------------------------------------
// Activation quantizers, bit-identical to quantize_row_ref (same float operations and rounding).

inline float hmax(__m256 v) {
  __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  m = _mm_max_ps(m, _mm_movehl_ps(m, m));
  m = _mm_max_ss(m, _mm_movehdup_ps(m));
  return _mm_cvtss_f32(m);
}

inline __m256 abs_ps(__m256 v) { return _mm256_andnot_ps(_mm256_set1_ps(-0.0f), v); }

// Four vectors of 8 int32 (each in -127..127) to 32 int8 in order.
inline __m256i pack_i32_to_i8(__m256i a, __m256i b, __m256i c, __m256i d) {
  __m256i ab = _mm256_packs_epi32(a, b), cd = _mm256_packs_epi32(c, d);
  __m256i v = _mm256_packs_epi16(ab, cd);
  return _mm256_permutevar8x32_epi32(v, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
}

// Q8_0 / Q8_1: d = amax / 127, q = roundf(x / d) (halves away from zero).
template <bool kWithSum>
void quantize_q8_32(const float* x, void* dst, int64_t n) {
  auto* y0 = static_cast<BlockQ8_0*>(dst);
  auto* y1 = static_cast<BlockQ8_1*>(dst);
  for (int64_t b = 0; b < n / QK; ++b, x += QK) {
    __m256 v[4];
    __m256 am = _mm256_setzero_ps();
    for (int k = 0; k < 4; ++k) v[k] = _mm256_loadu_ps(x + 8 * k), am = _mm256_max_ps(am, abs_ps(v[k]));
    const float d = hmax(am) / 127.0f, id = d ? 1.0f / d : 0.0f;
    __m256i q[4];
    for (int k = 0; k < 4; ++k) {
      __m256 p = _mm256_mul_ps(v[k], _mm256_set1_ps(id));
      __m256 t = _mm256_round_ps(p, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
      __m256 away = _mm256_cmp_ps(abs_ps(_mm256_sub_ps(p, t)), _mm256_set1_ps(0.5f), _CMP_GE_OQ);
      __m256 one = _mm256_or_ps(_mm256_set1_ps(1.0f), _mm256_and_ps(p, _mm256_set1_ps(-0.0f)));
      q[k] = _mm256_cvttps_epi32(_mm256_add_ps(t, _mm256_and_ps(away, one)));
    }
    __m256i packed = pack_i32_to_i8(q[0], q[1], q[2], q[3]);
    if constexpr (kWithSum) {
      y1[b].d = f32_to_fp16(d);
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(y1[b].qs), packed);
      __m256i s = _mm256_add_epi32(_mm256_add_epi32(q[0], q[1]), _mm256_add_epi32(q[2], q[3]));
      __m128i s4 = _mm_add_epi32(_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1));
      s4 = _mm_add_epi32(s4, _mm_shuffle_epi32(s4, 0x4e));
      s4 = _mm_add_epi32(s4, _mm_shuffle_epi32(s4, 0xb1));
      y1[b].s = f32_to_fp16(static_cast<float>(_mm_cvtsi128_si32(s4)) * d);
    } else {
      y0[b].d = f32_to_fp16(d);
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(y0[b].qs), packed);
    }
  }
}

// Q8_K: scale -127 / (the first value of largest magnitude), q = nearest_int (ties to even, as cvtps).
void quantize_q8_k(const float* x, void* dst, int64_t n) {
  auto* y = static_cast<BlockQ8_K*>(dst);
  for (int64_t i = 0; i < n / QK_K; ++i, x += QK_K) {
    __m256 am = _mm256_setzero_ps();
    for (int k = 0; k < QK_K; k += 8) am = _mm256_max_ps(am, abs_ps(_mm256_loadu_ps(x + k)));
    const float amax = hmax(am);
    if (!amax) {
      std::memset(&y[i], 0, sizeof(BlockQ8_K));
      continue;
    }
    int j = 0;
    while (std::fabs(x[j]) != amax) ++j;
    const float iscale = -127.0f / x[j];
    const __m256 vs = _mm256_set1_ps(iscale);
    for (int k = 0; k < QK_K; k += 32) {
      __m256i q[4];
      for (int u = 0; u < 4; ++u)
        q[u] = _mm256_min_epi32(_mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x + k + 8 * u), vs)), _mm256_set1_epi32(127));
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(y[i].qs + k), pack_i32_to_i8(q[0], q[1], q[2], q[3]));
      // Sums of 16: elements k..k+15 are q[0], q[1]; k+16..k+31 are q[2], q[3].
      __m256i s0 = _mm256_add_epi32(q[0], q[1]), s1 = _mm256_add_epi32(q[2], q[3]);
      int sum0 = 0, sum1 = 0;
      alignas(32) int32_t tmp[16];
      _mm256_store_si256(reinterpret_cast<__m256i*>(tmp), s0);
      _mm256_store_si256(reinterpret_cast<__m256i*>(tmp + 8), s1);
      for (int u = 0; u < 8; ++u) sum0 += tmp[u], sum1 += tmp[8 + u];
      y[i].bsums[k / 16] = static_cast<int16_t>(sum0);
      y[i].bsums[k / 16 + 1] = static_cast<int16_t>(sum1);
    }
    y[i].d = 1 / iscale;
  }
}

#define HEARTH_TILES(TILE, TR, GR, GT) Kernel{TILE<TR, kDecodeRows, 1>, kDecodeRows, TILE<TR, GR, GT>, GR, GT}

}  // namespace

Kernel table(DType t) {
  switch (t) {
    case DType::Q4_0: return HEARTH_TILES(tile_q8_0_family, Q4_0T, kGemmRows, kGemmTokens);
    case DType::Q5_0: return HEARTH_TILES(tile_q8_0_family, Q5_0T, kGemmRows, kGemmTokens);
    case DType::Q8_0: return HEARTH_TILES(tile_q8_0_family, Q8_0T, kGemmRows, kGemmTokens);
    case DType::Q4_1: return HEARTH_TILES(tile_q8_1_family, Q4_1T, kGemmRows, kGemmTokens);
    case DType::Q5_1: return HEARTH_TILES(tile_q8_1_family, Q5_1T, kGemmRows, kGemmTokens);
    case DType::Q2_K: return HEARTH_TILES(tile_k, Q2_KT, kKRows, kKTokens);
    case DType::Q3_K: return HEARTH_TILES(tile_k, Q3_KT, kKRows, kKTokens);
    case DType::Q4_K: return HEARTH_TILES(tile_k, Q45_KT<false>, kKRows, kKTokens);
    case DType::Q5_K: return HEARTH_TILES(tile_k, Q45_KT<true>, kKRows, kKTokens);
    case DType::Q6_K: return HEARTH_TILES(tile_k, Q6_KT, kKRows, kKTokens);
#if HEARTH_KERNEL_VNNI
    case DType::F16: return Kernel{tile_float512<F16T, kDecodeRows, 1>, kDecodeRows, tile_float512<F16T, 4, 6>, 4, 6};
    case DType::BF16: return Kernel{tile_float512<BF16T, kDecodeRows, 1>, kDecodeRows, tile_float512<BF16T, 4, 6>, 4, 6};
    case DType::F32: return Kernel{tile_float512<F32T, kDecodeRows, 1>, kDecodeRows, tile_float512<F32T, 4, 6>, 4, 6};
#else
    case DType::F16: return HEARTH_TILES(tile_float, F16T, kGemmRows, kGemmTokens);
    case DType::BF16: return HEARTH_TILES(tile_float, BF16T, kGemmRows, kGemmTokens);
    case DType::F32: return HEARTH_TILES(tile_float, F32T, kGemmRows, kGemmTokens);
#endif
    default: return {};
  }
}

QuantizeFn quantizer(DType vt) {
  switch (vt) {
    case DType::Q8_0: return quantize_q8_32<false>;
    case DType::Q8_1: return quantize_q8_32<true>;
    case DType::Q8_K: return quantize_q8_k;
    default: return nullptr;
  }
}

}  // namespace hearth::cpu::HEARTH_KERNEL_NS

#undef HEARTH_TILES

// x86 kernels for packed weights (packed.h), written once over a vector width W and compiled twice:
// packed_kernels_avx2.cpp (W256: one group of 8 rows per 256-bit register, AVX2 or VNNI products) and
// packed_kernels_avx512.cpp (also W512: two consecutive groups, 16 rows, per 512-bit register, for prompts).
// Include only from those files, after defining HEARTH_KERNEL_VNNI (0/1) and HEARTH_KERNEL_NS.
//
// Every packed block is a set of vectors of kPackRows rows x 4 unsigned values; vector i pairs with one
// activation word (4 int8) broadcast to all rows, and an integer dot per row and sub-block is then scaled.
#include <immintrin.h>

#include <cstddef>
// GCC 12 reports the _mm512_undefined_* placeholders inside its own AVX-512 intrinsics as maybe-uninitialized.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <cstring>

#include "backend/cpu/kernels.h"
#include "backend/cpu/packed.h"
#include "backend/cpu/prefetch.h"
#include "quant/blocks.h"

namespace hearth::cpu::HEARTH_KERNEL_NS {
namespace {

using namespace hearth::q;

inline uint32_t load_u32(const void* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}
inline __m128i load64(const void* p) { return _mm_loadl_epi64(static_cast<const __m128i*>(p)); }
inline __m128i load128(const void* p) { return _mm_loadu_si128(static_cast<const __m128i*>(p)); }
inline __m256i load256(const void* p) { return _mm256_loadu_si256(static_cast<const __m256i*>(p)); }
inline const uint8_t* offset(const void* p, ptrdiff_t bytes) { return static_cast<const uint8_t*>(p) + bytes; }


// One group of 8 rows. `st` (the byte distance to the next group) is unused at this width.
struct W256 {
  using I = __m256i;
  using F = __m256;
  static constexpr int kRows = kPackRows;
  static I load(const void* p, ptrdiff_t) { return load256(p); }
  static I zero() { return _mm256_setzero_si256(); }
  static I set1(int v) { return _mm256_set1_epi32(v); }
  static I bytes(char v) { return _mm256_set1_epi8(v); }
  static I and_(I a, I b) { return _mm256_and_si256(a, b); }
  static I or_(I a, I b) { return _mm256_or_si256(a, b); }
  static I xor_(I a, I b) { return _mm256_xor_si256(a, b); }
  static I srli16(I a, int n) { return _mm256_srli_epi16(a, n); }
  static I slli16(I a, int n) { return _mm256_slli_epi16(a, n); }
  static I srli32(I a, int n) { return _mm256_srli_epi32(a, n); }
  static I add(I a, I b) { return _mm256_add_epi32(a, b); }
  static I mullo(I a, I b) { return _mm256_mullo_epi32(a, b); }
  static I madd16(I a, I b) { return _mm256_madd_epi16(a, b); }
  // acc + sums of four u8 x s8 products per int32 lane.
  static I dot(I acc, I u, I s) {
#if HEARTH_KERNEL_VNNI
    return _mm256_dpbusd_epi32(acc, u, s);
#else
    return _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1)));
#endif
  }
  // acc + products of signed values s8w (not biased) with s: the sign trick for AVX2's u8 x s8 instruction.
  static I dot_signed(I acc, I w, I s) { return dot(acc, _mm256_sign_epi8(w, w), _mm256_sign_epi8(s, w)); }
  // Per row: 8 u8 / s8 bytes, 16 u8 bytes as pairs (int16), 8 halves.
  static I u8_i32(const void* p, ptrdiff_t) { return _mm256_cvtepu8_epi32(load64(p)); }
  static I s8_i32(const void* p, ptrdiff_t) { return _mm256_cvtepi8_epi32(load64(p)); }
  static I u8x2_i16(const void* p, ptrdiff_t) { return _mm256_cvtepu8_epi16(load128(p)); }
  static F halves(const void* p, ptrdiff_t) { return _mm256_cvtph_ps(load128(p)); }
  static F cvt(I a) { return _mm256_cvtepi32_ps(a); }
  static F setf(float v) { return _mm256_set1_ps(v); }
  static F zerof() { return _mm256_setzero_ps(); }
  static F mul(F a, F b) { return _mm256_mul_ps(a, b); }
  static F fma(F a, F b, F c) { return _mm256_fmadd_ps(a, b, c); }
  static F fnma(F a, F b, F c) { return _mm256_fnmadd_ps(a, b, c); }
  static void store(float* p, F a) { _mm256_storeu_ps(p, a); }
};

#if HEARTH_KERNEL_VNNI
// Two consecutive groups: the low 256 bits hold group g, the high 256 bits group g + 1 (st bytes further).
struct W512 {
  using I = __m512i;
  using F = __m512;
  static constexpr int kRows = 2 * kPackRows;
  static I load(const void* p, ptrdiff_t st) {
    return _mm512_inserti64x4(_mm512_castsi256_si512(load256(p)), load256(offset(p, st)), 1);
  }
  static I zero() { return _mm512_setzero_si512(); }
  static I set1(int v) { return _mm512_set1_epi32(v); }
  static I bytes(char v) { return _mm512_set1_epi8(v); }
  static I and_(I a, I b) { return _mm512_and_si512(a, b); }
  static I or_(I a, I b) { return _mm512_or_si512(a, b); }
  static I xor_(I a, I b) { return _mm512_xor_si512(a, b); }
  static I srli16(I a, int n) { return _mm512_srli_epi16(a, n); }
  static I slli16(I a, int n) { return _mm512_slli_epi16(a, n); }
  static I srli32(I a, int n) { return _mm512_srli_epi32(a, n); }
  static I add(I a, I b) { return _mm512_add_epi32(a, b); }
  static I mullo(I a, I b) { return _mm512_mullo_epi32(a, b); }
  static I madd16(I a, I b) { return _mm512_madd_epi16(a, b); }
  static I dot(I acc, I u, I s) { return _mm512_dpbusd_epi32(acc, u, s); }
  static I u8_i32(const void* p, ptrdiff_t st) { return _mm512_cvtepu8_epi32(_mm_unpacklo_epi64(load64(p), load64(offset(p, st)))); }
  static I s8_i32(const void* p, ptrdiff_t st) { return _mm512_cvtepi8_epi32(_mm_unpacklo_epi64(load64(p), load64(offset(p, st)))); }
  static I u8x2_i16(const void* p, ptrdiff_t st) {
    return _mm512_cvtepu8_epi16(_mm256_inserti128_si256(_mm256_castsi128_si256(load128(p)), load128(offset(p, st)), 1));
  }
  static F halves(const void* p, ptrdiff_t st) {
    return _mm512_cvtph_ps(_mm256_inserti128_si256(_mm256_castsi128_si256(load128(p)), load128(offset(p, st)), 1));
  }
  static F cvt(I a) { return _mm512_cvtepi32_ps(a); }
  static F setf(float v) { return _mm512_set1_ps(v); }
  static F zerof() { return _mm512_setzero_ps(); }
  static F mul(F a, F b) { return _mm512_mul_ps(a, b); }
  static F fma(F a, F b, F c) { return _mm512_fmadd_ps(a, b, c); }
  static F fnma(F a, F b, F c) { return _mm512_fnmadd_ps(a, b, c); }
  static void store(float* p, F a) { _mm512_storeu_ps(p, a); }
};
#endif

// ---------------------------------------------------------------------------------------------
// 32-blocks with Q8_0 activations: 8 vectors per block, vector i paired with the activation word at xoff(i).
// Values are the signed ones plus kBias: a block's dot is d_w * d_x * (u8 x s8 products - kBias * sum of x).

struct PackedQ4_0T {
  using P = PackedQ4_0;
  static constexpr int kBias = 8;
  template <class W>
  static typename W::I vec(const P& p, ptrdiff_t st, int i) {
    typename W::I v = W::load(p.qs[i % 4], st);
    return W::and_(i < 4 ? v : W::srli16(v, 4), W::bytes(0x0f));
  }
  static int xoff(int i) { return i < 4 ? 4 * i : 16 + 4 * (i - 4); }
};
struct PackedQ8_0T {
  using P = PackedQ8_0;
  static constexpr int kBias = 128;
  template <class W>
  static typename W::I vec(const P& p, ptrdiff_t st, int i) { return W::load(p.qs[i], st); }
  static int xoff(int i) { return 4 * i; }
};

// Without VNNI, biased Q8_0 values (up to 255) would saturate AVX2's 16-bit pair sums: those go through the
// sign trick on the unbiased values, with no bias to remove.
template <class W, class Tr>
constexpr bool kSignTrick = !HEARTH_KERNEL_VNNI && Tr::kBias == 128;

template <class W, typename Tr, int T, bool Pf>
void tile_legacy(int64_t n, const uint8_t* group, const uint8_t* const* x, const int32_t* const* xs, float* out) {
  using I = typename W::I;
  using F = typename W::F;
  const int64_t nb = n / QK;
  const auto* p = reinterpret_cast<const typename Tr::P*>(group);
  const ptrdiff_t st = nb * static_cast<ptrdiff_t>(sizeof(typename Tr::P));
  constexpr int bias = kSignTrick<W, Tr> ? 0 : Tr::kBias;
  F acc[T];
  for (int t = 0; t < T; ++t) acc[t] = W::zerof();
  for (int64_t b = 0; b < nb; ++b) {
    if constexpr (Pf) {
      prefetch_ahead(p + b, sizeof *p);
      if constexpr (W::kRows > kPackRows) prefetch_ahead(offset(p + b, st), sizeof *p);
    }
    I u[8];
    for (int i = 0; i < 8; ++i) {
      u[i] = Tr::template vec<W>(p[b], st, i);
      if constexpr (kSignTrick<W, Tr>) u[i] = W::xor_(u[i], W::bytes(static_cast<char>(0x80)));
    }
    const F dw = W::halves(p[b].d, st);
    for (int t = 0; t < T; ++t) {
      const BlockQ8_0& xb = reinterpret_cast<const BlockQ8_0*>(x[t])[b];
      I s0 = W::set1(-bias * xs[t][b]), s1 = W::zero();
      for (int i = 0; i < 8; i += 2) {
        const I x0 = W::set1(static_cast<int>(load_u32(xb.qs + Tr::xoff(i))));
        const I x1 = W::set1(static_cast<int>(load_u32(xb.qs + Tr::xoff(i + 1))));
        if constexpr (kSignTrick<W, Tr>) {
          s0 = W::dot_signed(s0, u[i], x0), s1 = W::dot_signed(s1, u[i + 1], x1);
        } else {
          s0 = W::dot(s0, u[i], x0), s1 = W::dot(s1, u[i + 1], x1);
        }
      }
      acc[t] = W::fma(W::cvt(W::add(s0, s1)), W::mul(dw, W::setf(_cvtsh_ss(xb.d))), acc[t]);
    }
  }
  for (int t = 0; t < T; ++t) {
    float v[W::kRows];
    W::store(v, acc[t]);
    for (int r = 0; r < W::kRows; ++r) out[r * T + t] = v[r];
  }
}

// ---------------------------------------------------------------------------------------------
// k-quants with Q8_K activations. A super-block is taken in 8 steps of 8 vectors; a step covers whole
// sub-blocks, whose integer dot (minus kOffset times the activations' sum) is scaled per row by the sub-block's
// scale. Types with a minimum subtract dmin * (mins . sub-block sums of x) at the end.

// Sum over the 8 sub-blocks of 32 of mins[s] * (sum of x over sub-block s), per row (Q4_K, Q5_K).
template <class W, class P>
typename W::I k4_min_dot(const P& p, ptrdiff_t st, const BlockQ8_K& x) {
  typename W::I ms = W::zero();
  for (int pr = 0; pr < 4; ++pr) {
    const int16_t* bs = x.bsums + 4 * pr;
    const uint32_t pair = static_cast<uint16_t>(bs[0] + bs[1]) | static_cast<uint32_t>(static_cast<uint16_t>(bs[2] + bs[3])) << 16;
    ms = W::add(ms, W::madd16(W::u8x2_i16(p.mins[pr], st), W::set1(static_cast<int>(pair))));
  }
  return ms;
}

struct PackedQ4_KT {
  using P = PackedQ4_K;
  static constexpr int kSubsPerStep = 1, kOffset = 0;
  static constexpr bool kHasMin = true;
  // Step k: part k/2, low (even k) or high nibbles: sub-block k.
  template <class W>
  static void values(const P& p, ptrdiff_t st, int k, typename W::I u[8]) {
    for (int c = 0; c < 8; ++c) u[c] = W::and_(W::srli16(W::load(p.qs[k / 2][c], st), 4 * (k % 2)), W::bytes(0x0f));
  }
  static int xoff(int k, int v) { return 64 * (k / 2) + 32 * (k % 2) + 4 * v; }
  static int sub(int k, int) { return k; }
  template <class W>
  static typename W::I scale(const P& p, ptrdiff_t st, int sb) { return W::u8_i32(p.scales[sb], st); }
  template <class W>
  static typename W::I min_dot(const P& p, ptrdiff_t st, const BlockQ8_K& x) { return k4_min_dot<W>(p, st, x); }
};

// Q4_K plus bit k of qh as bit 4 (sub-block k's fifth bits).
struct PackedQ5_KT : PackedQ4_KT {
  using P = PackedQ5_K;
  template <class W>
  static void values(const P& p, ptrdiff_t st, int k, typename W::I u[8]) {
    for (int c = 0; c < 8; ++c) {
      const auto lo = W::and_(W::srli16(W::load(p.qs[k / 2][c], st), 4 * (k % 2)), W::bytes(0x0f));
      const auto h = W::load(p.qh[c], st);
      u[c] = W::or_(lo, W::and_(k <= 4 ? W::slli16(h, 4 - k) : W::srli16(h, k - 4), W::bytes(0x10)));
    }
  }
  template <class W>
  static typename W::I scale(const P& p, ptrdiff_t st, int sb) { return W::u8_i32(p.scales[sb], st); }
  template <class W>
  static typename W::I min_dot(const P& p, ptrdiff_t st, const BlockQ8_K& x) { return k4_min_dot<W>(p, st, x); }
};

// Q2_K / Q3_K steps: half n = k / 4, shift j = k % 4; chunk c holds elements 128n + 32j + 4c.., sub-blocks
// 8n + 2j (c < 4) and 8n + 2j + 1.
struct PackedQ2Steps {
  static constexpr int kSubsPerStep = 2;
  static int xoff(int k, int v) { return 128 * (k / 4) + 32 * (k % 4) + 4 * v; }
  static int sub(int k, int v) { return 8 * (k / 4) + 2 * (k % 4) + v / 4; }
  template <class W, class P>
  static typename W::I low2(const P& p, ptrdiff_t st, int k, int c) {
    return W::and_(W::srli16(W::load(p.qs[k / 4][c], st), 2 * (k % 4)), W::bytes(3));
  }
};

struct PackedQ2_KT : PackedQ2Steps {
  using P = PackedQ2_K;
  static constexpr int kOffset = 0;
  static constexpr bool kHasMin = true;
  template <class W>
  static void values(const P& p, ptrdiff_t st, int k, typename W::I u[8]) {
    for (int c = 0; c < 8; ++c) u[c] = low2<W>(p, st, k, c);
  }
  // A pair's scale | min << 4 bytes per row as int16 lanes: sub-block 2pr + e's scale in bits 16e..16e+3.
  template <class W>
  static typename W::I scale(const P& p, ptrdiff_t st, int sb) {
    return W::and_(W::srli32(W::u8x2_i16(p.scales[sb / 2], st), 16 * (sb % 2)), W::set1(0xf));
  }
  template <class W>
  static typename W::I min_dot(const P& p, ptrdiff_t st, const BlockQ8_K& x) {
    typename W::I ms = W::zero();
    for (int pr = 0; pr < 8; ++pr) {
      const uint32_t pair = static_cast<uint16_t>(x.bsums[2 * pr]) | static_cast<uint32_t>(static_cast<uint16_t>(x.bsums[2 * pr + 1])) << 16;
      ms = W::add(ms, W::madd16(W::srli16(W::u8x2_i16(p.scales[pr], st), 4), W::set1(static_cast<int>(pair))));
    }
    return ms;
  }
};

// Q2_K's low bits plus bit 4n + j of hmask as bit 2; values are offset by 4.
struct PackedQ3_KT : PackedQ2Steps {
  using P = PackedQ3_K;
  static constexpr int kOffset = 4;
  static constexpr bool kHasMin = false;
  template <class W>
  static void values(const P& p, ptrdiff_t st, int k, typename W::I u[8]) {
    const int b = 4 * (k / 4) + k % 4;
    for (int c = 0; c < 8; ++c) {
      const auto h = W::load(p.hmask[c], st);
      const auto hb = b <= 2 ? W::slli16(h, 2 - b) : W::srli16(h, b - 2);
      u[c] = W::or_(low2<W>(p, st, k, c), W::and_(hb, W::bytes(4)));
    }
  }
  template <class W>
  static typename W::I scale(const P& p, ptrdiff_t st, int sb) { return W::s8_i32(p.scales[sb], st); }
};

struct PackedQ6_KT {
  using P = PackedQ6_K;
  static constexpr int kSubsPerStep = 2, kOffset = 32;
  static constexpr bool kHasMin = false;
  // Step k: half h = k / 4, quarter q = k / 2 % 2; groups g = 2 (k % 2) and g + 1 (element offsets 32 g), each
  // 4 vectors of l = 16q + 4i: 4 bits from ql (low or high nibble) and 2 from qh (bits 2g, 2g + 1).
  template <class W>
  static void values(const P& p, ptrdiff_t st, int k, typename W::I u[8]) {
    const int h = k / 4, q = k / 2 % 2;
    const auto m4 = W::bytes(0x0f), m2 = W::bytes(0x30);
    for (int i = 0; i < 4; ++i) {
      const auto a = W::load(p.q[h][q][i][0], st), b = W::load(p.q[h][q][i][1], st), w = W::load(p.q[h][q][i][2], st);
      if (k % 2 == 0) {
        u[i] = W::or_(W::and_(a, m4), W::and_(W::slli16(w, 4), m2));
        u[4 + i] = W::or_(W::and_(b, m4), W::and_(W::slli16(w, 2), m2));
      } else {
        u[i] = W::or_(W::and_(W::srli16(a, 4), m4), W::and_(w, m2));
        u[4 + i] = W::or_(W::and_(W::srli16(b, 4), m4), W::and_(W::srli16(w, 2), m2));
      }
    }
  }
  static int group(int k, int v) { return 2 * (k % 2) + v / 4; }
  static int xoff(int k, int v) { return 128 * (k / 4) + 32 * group(k, v) + 16 * (k / 2 % 2) + 4 * (v % 4); }
  static int sub(int k, int v) { return 8 * (k / 4) + 2 * group(k, v) + k / 2 % 2; }
  template <class W>
  static typename W::I scale(const P& p, ptrdiff_t st, int sb) { return W::s8_i32(p.scales[sb], st); }
};

template <class W, typename Tr, int T, bool Pf>
void tile_k(int64_t n, const uint8_t* group, const uint8_t* const* x, const int32_t* const*, float* out) {
  using I = typename W::I;
  using F = typename W::F;
  const int64_t nb = n / QK_K;
  const auto* p = reinterpret_cast<const typename Tr::P*>(group);
  const ptrdiff_t st = nb * static_cast<ptrdiff_t>(sizeof(typename Tr::P));
  constexpr int V = 8 / Tr::kSubsPerStep;  // vectors per sub-block
  F acc[T];
  for (int t = 0; t < T; ++t) acc[t] = W::zerof();
  for (int64_t i = 0; i < nb; ++i) {
    const auto& pb = p[i];
    if constexpr (Pf) {
      prefetch_ahead(p + i, sizeof *p);
      if constexpr (W::kRows > kPackRows) prefetch_ahead(offset(p + i, st), sizeof *p);
    }
    const BlockQ8_K* xb[T];
    I sumi[T];
    for (int t = 0; t < T; ++t) xb[t] = reinterpret_cast<const BlockQ8_K*>(x[t]) + i, sumi[t] = W::zero();
    for (int k = 0; k < 8; ++k) {
      I u[8];
      Tr::template values<W>(pb, st, k, u);
      for (int s = 0; s < Tr::kSubsPerStep; ++s) {
        const int sb = Tr::sub(k, s * V);
        const I sc = Tr::template scale<W>(pb, st, sb);
        for (int t = 0; t < T; ++t) {
          I is = Tr::kOffset ? W::set1(-Tr::kOffset * xb[t]->bsums[sb]) : W::zero();
          for (int v = 0; v < V; ++v)
            is = W::dot(is, u[s * V + v], W::set1(static_cast<int>(load_u32(xb[t]->qs + Tr::xoff(k, s * V + v)))));
          sumi[t] = W::add(sumi[t], W::mullo(is, sc));
        }
      }
    }
    const F d = W::halves(pb.d, st);
    for (int t = 0; t < T; ++t) acc[t] = W::fma(W::cvt(sumi[t]), W::mul(d, W::setf(xb[t]->d)), acc[t]);
    if constexpr (Tr::kHasMin) {
      const F dmin = W::halves(pb.dmin, st);
      for (int t = 0; t < T; ++t)
        acc[t] = W::fnma(W::cvt(Tr::template min_dot<W>(pb, st, *xb[t])), W::mul(dmin, W::setf(xb[t]->d)), acc[t]);
    }
  }
  for (int t = 0; t < T; ++t) {
    float v[W::kRows];
    W::store(v, acc[t]);
    for (int r = 0; r < W::kRows; ++r) out[r * T + t] = v[r];
  }
}

#if HEARTH_KERNEL_VNNI
constexpr int kTokens = 4;  // prompt tokens per call (32 registers)
#else
constexpr int kTokens = 2;  // 16 registers
#endif

// The kernels for type trait Tr: tile_legacy for the 32-blocks, tile_k for the k-quants. Pf: software prefetch,
// for the tiles that read each weight once per matmul (decode, small batches); prompt tiles come back to the
// same weights for each block of tokens, and run slightly faster without it.
template <class Tr, int T, class W, bool Pf>
constexpr PackedFn tile() {
  if constexpr (requires { Tr::kBias; })
    return tile_legacy<W, Tr, T, Pf>;
  else
    return tile_k<W, Tr, T, Pf>;
}

template <class Tr>
PackedKernel kernels() {
  PackedKernel k{tile<Tr, 1, W256, true>(), tile<Tr, kTokens, W256, false>(), kTokens};
  k.gemm_stream = tile<Tr, kTokens, W256, true>();
  if constexpr (kTokens > 2) k.pair = tile<Tr, 2, W256, true>();
#if HEARTH_KERNEL_VNNI
  k.gemm2 = tile<Tr, kTokens, W512, false>();
  k.gemm2_stream = tile<Tr, kTokens, W512, true>();
#endif
  return k;
}

}  // namespace

PackedKernel packed_table(DType t) {
  switch (t) {
    case DType::Q4_0: return kernels<PackedQ4_0T>();
    case DType::Q8_0: return kernels<PackedQ8_0T>();
    case DType::Q2_K: return kernels<PackedQ2_KT>();
    case DType::Q3_K: return kernels<PackedQ3_KT>();
    case DType::Q4_K: return kernels<PackedQ4_KT>();
    case DType::Q5_K: return kernels<PackedQ5_KT>();
    case DType::Q6_K: return kernels<PackedQ6_KT>();
    default: return {};
  }
}

}  // namespace hearth::cpu::HEARTH_KERNEL_NS

// AVX2 + F16C kernels for attention over an F16 KV cache.
#include <immintrin.h>

#include <algorithm>
#include <cmath>

#include "backend/cpu/attention.h"
#include "backend/cpu/exp_avx2.h"

namespace hearth::cpu {
namespace {

inline __m256 load_h8(const uint16_t* p) { return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))); }

inline float hsum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

// out[0..C*8) = sum_j p[j] * v_j for C chunks of 8 values, accumulated in registers.
template <int C>
void weighted_sum(const float* p, const uint16_t* v, int64_t stride, int n, float* out) {
  __m256 acc[C];
  for (int c = 0; c < C; ++c) acc[c] = _mm256_setzero_ps();
  for (int j = 0; j < n; ++j) {
    const __m256 pj = _mm256_set1_ps(p[j]);
    const uint16_t* vj = v + j * stride;
    for (int c = 0; c < C; ++c) acc[c] = _mm256_fmadd_ps(pj, load_h8(vj + 8 * c), acc[c]);
  }
  for (int c = 0; c < C; ++c) _mm256_storeu_ps(out + 8 * c, acc[c]);
}

}  // namespace

float dot_f32_f16_avx2(const float* a, const uint16_t* b, int n) {
  __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
  int i = 0;
  for (; i + 16 <= n; i += 16) {
    acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), load_h8(b + i), acc0);
    acc1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), load_h8(b + i + 8), acc1);
  }
  if (i + 8 <= n) acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), load_h8(b + i), acc0), i += 8;
  const float sum = hsum(_mm256_add_ps(acc0, acc1));
  return sum + (i < n ? dot_f32_f16_ref(a + i, b + i, n - i) : 0.0f);
}

void axpy_f16_avx2(float a, const uint16_t* x, float* y, int n) {
  __m256 va = _mm256_set1_ps(a);
  int i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, _mm256_fmadd_ps(va, load_h8(x + i), _mm256_loadu_ps(y + i)));
  if (i < n) axpy_f16_ref(a, x + i, y + i, n - i);
}

void f32_to_f16_row_avx2(const float* x, uint16_t* y, int n) {
  int i = 0;
  for (; i + 8 <= n; i += 8)
    _mm_storeu_si128(reinterpret_cast<__m128i*>(y + i),
                     _mm256_cvtps_ph(_mm256_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT));
  if (i < n) f32_to_f16_row_ref(x + i, y + i, n - i);
}

void attend_f16_avx2(const float* q, const uint16_t* k, const uint16_t* v, int64_t stride, int n_keys, int hd,
                     float scale, float softcap, float* out, std::vector<float>& scores) {
  scores.resize((n_keys + 7) / 8 * 8);
  float* s = scores.data();
  // Scores, four keys at a time: four dot products reduced together.
  int j = 0;
  if (hd % 8 == 0) {
    for (; j + 4 <= n_keys; j += 4) {
      __m256 a[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
      for (int i = 0; i < hd; i += 8) {
        const __m256 qi = _mm256_loadu_ps(q + i);
        for (int u = 0; u < 4; ++u) a[u] = _mm256_fmadd_ps(qi, load_h8(k + (j + u) * stride + i), a[u]);
      }
      const __m256 h = _mm256_hadd_ps(_mm256_hadd_ps(a[0], a[1]), _mm256_hadd_ps(a[2], a[3]));
      const __m128 r = _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));
      _mm_storeu_ps(s + j, _mm_mul_ps(r, _mm_set1_ps(scale)));
    }
  }
  for (; j < n_keys; ++j) s[j] = dot_f32_f16_avx2(q, k + j * stride, hd) * scale;
  softcap_scores(s, n_keys, softcap);

  // Softmax: e^(s - max) in place, then normalized.
  float mx = -INFINITY;
  for (int i = 0; i < n_keys; ++i) mx = std::max(mx, s[i]);
  for (int i = n_keys; i < static_cast<int>(scores.size()); ++i) s[i] = -INFINITY;
  __m256 vsum = _mm256_setzero_ps();
  for (int i = 0; i < n_keys; i += 8) {
    const __m256 e = exp_neg(_mm256_sub_ps(_mm256_loadu_ps(s + i), _mm256_set1_ps(mx)));
    _mm256_storeu_ps(s + i, e);
    vsum = _mm256_add_ps(vsum, e);
  }
  const float inv = 1.0f / hsum(vsum);
  for (int i = 0; i < n_keys; ++i) s[i] *= inv;

  switch (hd) {
    case 64: return weighted_sum<8>(s, v, stride, n_keys, out);
    case 128: return weighted_sum<16>(s, v, stride, n_keys, out);
    default:
      std::fill(out, out + hd, 0.0f);
      for (int i = 0; i < n_keys; ++i) axpy_f16_avx2(s[i], v + i * stride, out, hd);
  }
}

}  // namespace hearth::cpu

// AVX2 + FMA activations.
#include <immintrin.h>

#include "backend/cpu/activation.h"
#include "backend/cpu/exp_avx2.h"
#include "backend/cpu/layer_ops.h"

namespace hearth::cpu {

void swiglu_avx2(const float* gate, const float* up, float* out, size_t n) {
  const __m256 one = _mm256_set1_ps(1.0f), sign = _mm256_set1_ps(-0.0f);
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 x = _mm256_loadu_ps(gate + i);
    // e = e^-|x| <= 1 never overflows; sigmoid(x) = 1 / (1 + e) for x >= 0 and e / (1 + e) below.
    const __m256 e = exp_neg(_mm256_or_ps(x, sign));
    const __m256 neg = _mm256_cmp_ps(x, _mm256_setzero_ps(), _CMP_LT_OQ);
    const __m256 sig = _mm256_div_ps(_mm256_blendv_ps(one, e, neg), _mm256_add_ps(one, e));
    _mm256_storeu_ps(out + i, _mm256_mul_ps(_mm256_mul_ps(x, sig), _mm256_loadu_ps(up + i)));
  }
  swiglu_ref(gate + i, up + i, out + i, n - i);
}

void geglu_avx2(const float* gate, const float* up, float* out, size_t n) {
  const __m256 one = _mm256_set1_ps(1.0f), sign = _mm256_set1_ps(-0.0f);
  const __m256 c = _mm256_set1_ps(2 * 0.79788456080286535588f);
  const __m256 c3 = _mm256_set1_ps(2 * 0.79788456080286535588f * 0.044715f);
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 x = _mm256_loadu_ps(gate + i);
    // z = 2 sqrt(2/pi) (x + 0.044715 x^3); gelu(x) = x sigmoid(z), the sigmoid as in swiglu_avx2.
    const __m256 z = _mm256_mul_ps(x, _mm256_fmadd_ps(c3, _mm256_mul_ps(x, x), c));
    const __m256 e = exp_neg(_mm256_or_ps(z, sign));
    const __m256 neg = _mm256_cmp_ps(z, _mm256_setzero_ps(), _CMP_LT_OQ);
    __m256 g = _mm256_mul_ps(x, _mm256_div_ps(_mm256_blendv_ps(one, e, neg), _mm256_add_ps(one, e)));
    if (up) g = _mm256_mul_ps(g, _mm256_loadu_ps(up + i));
    _mm256_storeu_ps(out + i, g);
  }
  if (up)
    geglu_ref(gate + i, up + i, out + i, n - i);
  else
    gelu_ref(gate + i, out + i, n - i);
}

}  // namespace hearth::cpu

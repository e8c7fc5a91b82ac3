// AVX2 + FMA activations.
#include <immintrin.h>

#include "backend/cpu/activation.h"
#include "backend/cpu/exp_avx2.h"

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

}  // namespace hearth::cpu

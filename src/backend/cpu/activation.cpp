#include "backend/cpu/activation.h"

#include <cmath>

#include "backend/cpu/attention.h"
#include "backend/cpu/layer_ops.h"

namespace hearth::cpu {

void swiglu_ref(const float* gate, const float* up, float* out, size_t n) {
  for (size_t i = 0; i < n; ++i) out[i] = gate[i] / (1.0f + std::exp(-gate[i])) * up[i];
}

void swiglu(const float* gate, const float* up, float* out, size_t n) {
  static const bool simd = cpu_has_avx2_f16c();
  (simd ? swiglu_avx2 : swiglu_ref)(gate, up, out, n);
}

void gelu(const float* x, float* out, size_t n) {
  static const bool simd = cpu_has_avx2_f16c();
  if (simd)
    geglu_avx2(x, nullptr, out, n);
  else
    gelu_ref(x, out, n);
}

void geglu(const float* gate, const float* up, float* out, size_t n) {
  static const bool simd = cpu_has_avx2_f16c();
  (simd ? geglu_avx2 : geglu_ref)(gate, up, out, n);
}

}  // namespace hearth::cpu

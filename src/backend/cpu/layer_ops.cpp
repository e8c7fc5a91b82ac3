#include "backend/cpu/layer_ops.h"

#include <cmath>
#include <cstdint>

namespace hearth::cpu {

void layer_norm_ref(const float* x, const float* w, const float* b, float* y, int n_rows, int dim, float eps) {
  for (int r = 0; r < n_rows; ++r) {
    const float* xr = x + static_cast<int64_t>(r) * dim;
    float* yr = y + static_cast<int64_t>(r) * dim;
    double sum = 0;
    for (int i = 0; i < dim; ++i) sum += xr[i];
    const double mean = sum / dim;
    double ss = 0;
    for (int i = 0; i < dim; ++i) ss += (xr[i] - mean) * (xr[i] - mean);
    const float scale = static_cast<float>(1.0 / std::sqrt(ss / dim + eps));
    const float m = static_cast<float>(mean);
    for (int i = 0; i < dim; ++i) yr[i] = (xr[i] - m) * scale * w[i] + (b ? b[i] : 0.0f);
  }
}

float gelu_ref(float x) {
  constexpr float kSqrt2OverPi = 0.79788456080286535588f;
  return 0.5f * x * (1.0f + std::tanh(kSqrt2OverPi * x * (1.0f + 0.044715f * x * x)));
}

void gelu_ref(const float* x, float* out, size_t n) {
  for (size_t i = 0; i < n; ++i) out[i] = gelu_ref(x[i]);
}

void geglu_ref(const float* gate, const float* up, float* out, size_t n) {
  for (size_t i = 0; i < n; ++i) out[i] = gelu_ref(gate[i]) * up[i];
}

void add_bias_ref(float* x, const float* b, int n_rows, int dim) {
  for (int r = 0; r < n_rows; ++r) {
    float* xr = x + static_cast<int64_t>(r) * dim;
    for (int i = 0; i < dim; ++i) xr[i] += b[i];
  }
}

void gather_rows_ref(const float* src, const int32_t* rows, int n, int width, float* dst) {
  for (int i = 0; i < n; ++i)
    for (int j = 0; j < width; ++j) dst[static_cast<int64_t>(i) * width + j] = src[static_cast<int64_t>(rows[i]) * width + j];
}

void scatter_add_rows_ref(float* dst, const float* src, const int32_t* rows, const float* scales, int n, int width) {
  for (int i = 0; i < n; ++i)
    for (int j = 0; j < width; ++j)
      dst[static_cast<int64_t>(rows[i]) * width + j] += scales[i] * src[static_cast<int64_t>(i) * width + j];
}

}  // namespace hearth::cpu

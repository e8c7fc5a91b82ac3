// Reference code for the float types, Q8_0 and Q4_0.
// Block layouts (as in GGUF files):
//   q8_0: { f16 d; int8 qs[32]; }              x = d * q
//   q4_0: { f16 d; uint8 qs[16]; }             x = d * (nibble - 8); low nibbles are elements 0..15
#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "hearth/error.h"
#include "quant/fp16.h"
#include "quant/quant.h"

namespace hearth {
namespace {

constexpr int QK = 32;

struct BlockQ8_0 {
  uint16_t d;
  int8_t qs[QK];
};
struct BlockQ4_0 {
  uint16_t d;
  uint8_t qs[QK / 2];
};
static_assert(sizeof(BlockQ8_0) == 34 && sizeof(BlockQ4_0) == 18);

void quantize_q8_0(const float* x, BlockQ8_0* y, int64_t n) {
  for (int64_t b = 0; b < n / QK; ++b) {
    float amax = 0;
    for (int j = 0; j < QK; ++j) amax = std::max(amax, std::fabs(x[b * QK + j]));
    float d = amax / 127.0f, id = d ? 1.0f / d : 0.0f;
    y[b].d = f32_to_fp16(d);
    for (int j = 0; j < QK; ++j) y[b].qs[j] = static_cast<int8_t>(std::lround(x[b * QK + j] * id));
  }
}

void quantize_q4_0(const float* x, BlockQ4_0* y, int64_t n) {
  for (int64_t b = 0; b < n / QK; ++b) {
    const float* xb = x + b * QK;
    float amax = 0, max = 0;
    for (int j = 0; j < QK; ++j)
      if (std::fabs(xb[j]) > amax) amax = std::fabs(xb[j]), max = xb[j];
    float d = max / -8.0f, id = d ? 1.0f / d : 0.0f;
    y[b].d = f32_to_fp16(d);
    for (int j = 0; j < QK / 2; ++j) {
      int lo = std::min(15, static_cast<int>(xb[j] * id + 8.5f));
      int hi = std::min(15, static_cast<int>(xb[j + QK / 2] * id + 8.5f));
      y[b].qs[j] = static_cast<uint8_t>(lo | (hi << 4));
    }
  }
}

}  // namespace

bool dtype_supported(DType t) {
  switch (t) {
    case DType::F32: case DType::F16: case DType::BF16: case DType::Q8_0: case DType::Q4_0: return true;
    default: return false;
  }
}

void dequantize_row_ref(DType t, const void* src, float* dst, int64_t n) {
  switch (t) {
    case DType::F32: std::memcpy(dst, src, n * 4); return;
    case DType::F16: {
      auto s = static_cast<const uint16_t*>(src);
      for (int64_t i = 0; i < n; ++i) dst[i] = fp16_to_f32(s[i]);
      return;
    }
    case DType::BF16: {
      auto s = static_cast<const uint16_t*>(src);
      for (int64_t i = 0; i < n; ++i) dst[i] = bf16_to_f32(s[i]);
      return;
    }
    case DType::Q8_0: {
      auto b = static_cast<const BlockQ8_0*>(src);
      for (int64_t i = 0; i < n / QK; ++i) {
        float d = fp16_to_f32(b[i].d);
        for (int j = 0; j < QK; ++j) dst[i * QK + j] = d * b[i].qs[j];
      }
      return;
    }
    case DType::Q4_0: {
      auto b = static_cast<const BlockQ4_0*>(src);
      for (int64_t i = 0; i < n / QK; ++i) {
        float d = fp16_to_f32(b[i].d);
        for (int j = 0; j < QK / 2; ++j) {
          dst[i * QK + j] = d * ((b[i].qs[j] & 0x0f) - 8);
          dst[i * QK + j + QK / 2] = d * ((b[i].qs[j] >> 4) - 8);
        }
      }
      return;
    }
    default: throw Error("dequantize: unsupported type " + std::string(dtype_name(t)));
  }
}

void quantize_row_ref(DType t, const float* src, void* dst, int64_t n) {
  switch (t) {
    case DType::F32: std::memcpy(dst, src, n * 4); return;
    case DType::F16: {
      auto d = static_cast<uint16_t*>(dst);
      for (int64_t i = 0; i < n; ++i) d[i] = f32_to_fp16(src[i]);
      return;
    }
    case DType::BF16: {
      auto d = static_cast<uint16_t*>(dst);
      for (int64_t i = 0; i < n; ++i) d[i] = f32_to_bf16(src[i]);
      return;
    }
    case DType::Q8_0: quantize_q8_0(src, static_cast<BlockQ8_0*>(dst), n); return;
    case DType::Q4_0: quantize_q4_0(src, static_cast<BlockQ4_0*>(dst), n); return;
    default: throw Error("quantize: unsupported type " + std::string(dtype_name(t)));
  }
}

DType vec_dot_type(DType t) {
  switch (t) {
    case DType::Q8_0: case DType::Q4_0: return DType::Q8_0;
    default: return DType::F32;
  }
}

float vec_dot_ref(DType t, int64_t n, const void* w, const void* x) {
  if (vec_dot_type(t) == DType::F32) {
    std::vector<float> row(n);
    dequantize_row_ref(t, w, row.data(), n);
    auto xf = static_cast<const float*>(x);
    double s = 0;
    for (int64_t i = 0; i < n; ++i) s += static_cast<double>(row[i]) * xf[i];
    return static_cast<float>(s);
  }
  auto xb = static_cast<const BlockQ8_0*>(x);
  float sum = 0;
  for (int64_t b = 0; b < n / QK; ++b) {
    int isum = 0;
    float dw;
    if (t == DType::Q8_0) {
      auto wb = static_cast<const BlockQ8_0*>(w) + b;
      for (int j = 0; j < QK; ++j) isum += wb->qs[j] * xb[b].qs[j];
      dw = fp16_to_f32(wb->d);
    } else {
      auto wb = static_cast<const BlockQ4_0*>(w) + b;
      for (int j = 0; j < QK / 2; ++j)
        isum += ((wb->qs[j] & 0x0f) - 8) * xb[b].qs[j] + ((wb->qs[j] >> 4) - 8) * xb[b].qs[j + QK / 2];
      dw = fp16_to_f32(wb->d);
    }
    sum += dw * fp16_to_f32(xb[b].d) * static_cast<float>(isum);
  }
  return sum;
}

}  // namespace hearth

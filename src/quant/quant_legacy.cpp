// Reference code for the 32-element block types: Q4_0, Q4_1, Q5_0, Q5_1, Q8_0 and the activation type Q8_1.
// Quantizers follow llama.cpp's reference (non-imatrix) rules so files and quality match.
#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstring>

#include "quant/blocks.h"
#include "quant/quant_impl.h"

namespace hearth::q {
namespace {

// Largest-magnitude value (with its sign) of a block.
float signed_absmax(const float* x, int n) {
  float amax = 0, max = 0;
  for (int j = 0; j < n; ++j)
    if (std::fabs(x[j]) > amax) amax = std::fabs(x[j]), max = x[j];
  return max;
}

void quantize_q4_0(const float* x, BlockQ4_0* y, int64_t nb) {
  for (int64_t b = 0; b < nb; ++b, x += QK) {
    float d = signed_absmax(x, QK) / -8.0f, id = d ? 1.0f / d : 0.0f;
    y[b].d = f32_to_fp16(d);
    for (int j = 0; j < QK / 2; ++j) {
      int lo = std::min(15, static_cast<int>(x[j] * id + 8.5f));
      int hi = std::min(15, static_cast<int>(x[j + QK / 2] * id + 8.5f));
      y[b].qs[j] = static_cast<uint8_t>(lo | (hi << 4));
    }
  }
}

void quantize_q4_1(const float* x, BlockQ4_1* y, int64_t nb) {
  for (int64_t b = 0; b < nb; ++b, x += QK) {
    float mn = FLT_MAX, mx = -FLT_MAX;
    for (int j = 0; j < QK; ++j) mn = std::min(mn, x[j]), mx = std::max(mx, x[j]);
    float d = (mx - mn) / 15.0f, id = d ? 1.0f / d : 0.0f;
    y[b].d = f32_to_fp16(d);
    y[b].m = f32_to_fp16(mn);
    for (int j = 0; j < QK / 2; ++j) {
      int lo = std::min(15, static_cast<int>((x[j] - mn) * id + 0.5f));
      int hi = std::min(15, static_cast<int>((x[j + QK / 2] - mn) * id + 0.5f));
      y[b].qs[j] = static_cast<uint8_t>(lo | (hi << 4));
    }
  }
}

// Packs 32 five-bit values: low nibbles into qs (as Q4), bit 4 of element j into bit j of qh.
void pack_q5(const int* l, uint8_t* qs, uint8_t* qh_bytes) {
  uint32_t qh = 0;
  for (int j = 0; j < QK / 2; ++j) {
    qs[j] = static_cast<uint8_t>((l[j] & 0xf) | ((l[j + QK / 2] & 0xf) << 4));
    qh |= static_cast<uint32_t>((l[j] >> 4) & 1) << j;
    qh |= static_cast<uint32_t>((l[j + QK / 2] >> 4) & 1) << (j + QK / 2);
  }
  std::memcpy(qh_bytes, &qh, 4);
}

// The 5-bit value of element j (0..31) of a Q5 block.
inline int q5_value(const uint8_t* qs, const uint8_t* qh_bytes, int j) {
  uint32_t qh;
  std::memcpy(&qh, qh_bytes, 4);
  int nib = j < QK / 2 ? (qs[j] & 0xf) : (qs[j - QK / 2] >> 4);
  return nib | static_cast<int>(((qh >> j) & 1) << 4);
}

void quantize_q5_0(const float* x, BlockQ5_0* y, int64_t nb) {
  for (int64_t b = 0; b < nb; ++b, x += QK) {
    float d = signed_absmax(x, QK) / -16.0f, id = d ? 1.0f / d : 0.0f;
    y[b].d = f32_to_fp16(d);
    int l[QK];
    for (int j = 0; j < QK; ++j) l[j] = std::min(31, static_cast<int>(x[j] * id + 16.5f));
    pack_q5(l, y[b].qs, y[b].qh);
  }
}

void quantize_q5_1(const float* x, BlockQ5_1* y, int64_t nb) {
  for (int64_t b = 0; b < nb; ++b, x += QK) {
    float mn = FLT_MAX, mx = -FLT_MAX;
    for (int j = 0; j < QK; ++j) mn = std::min(mn, x[j]), mx = std::max(mx, x[j]);
    float d = (mx - mn) / 31.0f, id = d ? 1.0f / d : 0.0f;
    y[b].d = f32_to_fp16(d);
    y[b].m = f32_to_fp16(mn);
    int l[QK];
    for (int j = 0; j < QK; ++j) l[j] = std::min(31, static_cast<int>((x[j] - mn) * id + 0.5f));
    pack_q5(l, y[b].qs, y[b].qh);
  }
}

void quantize_q8_0(const float* x, BlockQ8_0* y, int64_t nb) {
  for (int64_t b = 0; b < nb; ++b, x += QK) {
    float amax = 0;
    for (int j = 0; j < QK; ++j) amax = std::max(amax, std::fabs(x[j]));
    float d = amax / 127.0f, id = d ? 1.0f / d : 0.0f;
    y[b].d = f32_to_fp16(d);
    for (int j = 0; j < QK; ++j) y[b].qs[j] = static_cast<int8_t>(std::round(x[j] * id));
  }
}

void quantize_q8_1(const float* x, BlockQ8_1* y, int64_t nb) {
  for (int64_t b = 0; b < nb; ++b, x += QK) {
    float amax = 0;
    for (int j = 0; j < QK; ++j) amax = std::max(amax, std::fabs(x[j]));
    float d = amax / 127.0f, id = d ? 1.0f / d : 0.0f;
    y[b].d = f32_to_fp16(d);
    int sum = 0;
    for (int j = 0; j < QK; ++j) {
      y[b].qs[j] = static_cast<int8_t>(std::round(x[j] * id));
      sum += y[b].qs[j];
    }
    y[b].s = f32_to_fp16(static_cast<float>(sum) * d);
  }
}

// Dequantizes 32-element blocks: x[j] = d * value(j) + m.
template <typename Block, typename ValueFn>
void dequantize_blocks(const Block* b, float* y, int64_t nb, ValueFn value) {
  for (int64_t i = 0; i < nb; ++i, y += QK) {
    float d = fp16_to_f32(b[i].d), m = 0;
    if constexpr (requires { b[i].m; }) m = fp16_to_f32(b[i].m);
    for (int j = 0; j < QK; ++j) y[j] = d * static_cast<float>(value(b[i], j)) + m;
  }
}

inline int q4_nibble(const uint8_t* qs, int j) { return j < QK / 2 ? (qs[j] & 0xf) : (qs[j - QK / 2] >> 4); }

// Integer dot of one weight block's values with one Q8 block.
template <typename Block, typename ValueFn>
int block_idot(const Block& w, const int8_t* xq, ValueFn value) {
  int s = 0;
  for (int j = 0; j < QK; ++j) s += value(w, j) * xq[j];
  return s;
}

}  // namespace

bool dequantize_legacy(DType t, const void* src, float* dst, int64_t n) {
  const int64_t nb = n / QK;
  switch (t) {
    case DType::Q4_0:
      dequantize_blocks(static_cast<const BlockQ4_0*>(src), dst, nb,
                        [](const BlockQ4_0& b, int j) { return q4_nibble(b.qs, j) - 8; });
      return true;
    case DType::Q4_1:
      dequantize_blocks(static_cast<const BlockQ4_1*>(src), dst, nb,
                        [](const BlockQ4_1& b, int j) { return q4_nibble(b.qs, j); });
      return true;
    case DType::Q5_0:
      dequantize_blocks(static_cast<const BlockQ5_0*>(src), dst, nb,
                        [](const BlockQ5_0& b, int j) { return q5_value(b.qs, b.qh, j) - 16; });
      return true;
    case DType::Q5_1:
      dequantize_blocks(static_cast<const BlockQ5_1*>(src), dst, nb,
                        [](const BlockQ5_1& b, int j) { return q5_value(b.qs, b.qh, j); });
      return true;
    case DType::Q8_0:
      dequantize_blocks(static_cast<const BlockQ8_0*>(src), dst, nb,
                        [](const BlockQ8_0& b, int j) { return static_cast<int>(b.qs[j]); });
      return true;
    case DType::Q8_1:
      dequantize_blocks(static_cast<const BlockQ8_1*>(src), dst, nb,
                        [](const BlockQ8_1& b, int j) { return static_cast<int>(b.qs[j]); });
      return true;
    default: return false;
  }
}

bool quantize_legacy(DType t, const float* src, void* dst, int64_t n) {
  const int64_t nb = n / QK;
  switch (t) {
    case DType::Q4_0: quantize_q4_0(src, static_cast<BlockQ4_0*>(dst), nb); return true;
    case DType::Q4_1: quantize_q4_1(src, static_cast<BlockQ4_1*>(dst), nb); return true;
    case DType::Q5_0: quantize_q5_0(src, static_cast<BlockQ5_0*>(dst), nb); return true;
    case DType::Q5_1: quantize_q5_1(src, static_cast<BlockQ5_1*>(dst), nb); return true;
    case DType::Q8_0: quantize_q8_0(src, static_cast<BlockQ8_0*>(dst), nb); return true;
    case DType::Q8_1: quantize_q8_1(src, static_cast<BlockQ8_1*>(dst), nb); return true;
    default: return false;
  }
}

// Q4_0 / Q5_0 / Q8_0 weights with Q8_0 activations: sum d_w * d_x * idot.
// Q4_1 / Q5_1 weights with Q8_1 activations: sum d_w * d_x * idot + m_w * s_x.
bool vec_dot_legacy(DType t, int64_t n, const void* w, const void* x, float* out) {
  const int64_t nb = n / QK;
  float sum = 0;
  auto x0 = static_cast<const BlockQ8_0*>(x);
  auto x1 = static_cast<const BlockQ8_1*>(x);
  switch (t) {
    case DType::Q4_0: {
      auto wb = static_cast<const BlockQ4_0*>(w);
      for (int64_t b = 0; b < nb; ++b)
        sum += fp16_to_f32(wb[b].d) * fp16_to_f32(x0[b].d) *
               static_cast<float>(block_idot(wb[b], x0[b].qs, [](const BlockQ4_0& v, int j) { return q4_nibble(v.qs, j) - 8; }));
      break;
    }
    case DType::Q5_0: {
      auto wb = static_cast<const BlockQ5_0*>(w);
      for (int64_t b = 0; b < nb; ++b)
        sum += fp16_to_f32(wb[b].d) * fp16_to_f32(x0[b].d) *
               static_cast<float>(block_idot(wb[b], x0[b].qs, [](const BlockQ5_0& v, int j) { return q5_value(v.qs, v.qh, j) - 16; }));
      break;
    }
    case DType::Q8_0: {
      auto wb = static_cast<const BlockQ8_0*>(w);
      for (int64_t b = 0; b < nb; ++b)
        sum += fp16_to_f32(wb[b].d) * fp16_to_f32(x0[b].d) *
               static_cast<float>(block_idot(wb[b], x0[b].qs, [](const BlockQ8_0& v, int j) { return static_cast<int>(v.qs[j]); }));
      break;
    }
    case DType::Q4_1: {
      auto wb = static_cast<const BlockQ4_1*>(w);
      for (int64_t b = 0; b < nb; ++b)
        sum += fp16_to_f32(wb[b].d) * fp16_to_f32(x1[b].d) *
                   static_cast<float>(block_idot(wb[b], x1[b].qs, [](const BlockQ4_1& v, int j) { return q4_nibble(v.qs, j); })) +
               fp16_to_f32(wb[b].m) * fp16_to_f32(x1[b].s);
      break;
    }
    case DType::Q5_1: {
      auto wb = static_cast<const BlockQ5_1*>(w);
      for (int64_t b = 0; b < nb; ++b)
        sum += fp16_to_f32(wb[b].d) * fp16_to_f32(x1[b].d) *
                   static_cast<float>(block_idot(wb[b], x1[b].qs, [](const BlockQ5_1& v, int j) { return q5_value(v.qs, v.qh, j); })) +
               fp16_to_f32(wb[b].m) * fp16_to_f32(x1[b].s);
      break;
    }
    default: return false;
  }
  *out = sum;
  return true;
}

}  // namespace hearth::q

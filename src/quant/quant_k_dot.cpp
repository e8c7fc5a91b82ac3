// Reference dot products of k-quant weights with Q8_K activations, in the integer form the SIMD kernels use:
// per sub-block an integer dot, scaled by the sub-block's integer scale, then one float scale per super-block.
#include <cstdint>

#include "quant/blocks.h"
#include "quant/quant_impl.h"

namespace hearth::q {
namespace {

// Sum over sub-blocks of `sub` elements: scale[j] * dot(levels, x).
int scaled_idot(const int8_t* levels, const int8_t* x, const int* scales, int sub) {
  int sumi = 0;
  for (int j = 0; j < QK_K / sub; ++j) {
    int s = 0;
    for (int l = 0; l < sub; ++l) s += levels[j * sub + l] * x[j * sub + l];
    sumi += scales[j] * s;
  }
  return sumi;
}

float dot_q2_k(const BlockQ2_K* w, const BlockQ8_K* x, int64_t nb) {
  float sum = 0;
  for (int64_t i = 0; i < nb; ++i) {
    int8_t lv[QK_K];
    int sc[16], summs = 0;
    for (int e = 0; e < QK_K; ++e) lv[e] = static_cast<int8_t>((w[i].qs[(e / 128) * 32 + e % 32] >> (2 * ((e / 32) % 4))) & 3);
    for (int j = 0; j < 16; ++j) {
      sc[j] = w[i].scales[j] & 0xf;
      summs += (w[i].scales[j] >> 4) * x[i].bsums[j];
    }
    int sumi = scaled_idot(lv, x[i].qs, sc, 16);
    sum += x[i].d * (fp16_to_f32(w[i].d) * static_cast<float>(sumi) - fp16_to_f32(w[i].dmin) * static_cast<float>(summs));
  }
  return sum;
}

float dot_q3_k(const BlockQ3_K* w, const BlockQ8_K* x, int64_t nb) {
  float sum = 0;
  for (int64_t i = 0; i < nb; ++i) {
    int8_t lv[QK_K], s8[16];
    int sc[16];
    q3k_scales(w[i].scales, s8);
    for (int j = 0; j < 16; ++j) sc[j] = s8[j];
    for (int e = 0; e < QK_K; ++e) {
      int q = (w[i].qs[(e / 128) * 32 + e % 32] >> (2 * ((e / 32) % 4))) & 3;
      int h = (w[i].hmask[e % 32] >> (e / 32)) & 1;
      lv[e] = static_cast<int8_t>(q + 4 * h - 4);
    }
    sum += fp16_to_f32(w[i].d) * x[i].d * static_cast<float>(scaled_idot(lv, x[i].qs, sc, 16));
  }
  return sum;
}

template <typename Block, bool kFive>
float dot_q45_k(const Block* w, const BlockQ8_K* x, int64_t nb) {
  float sum = 0;
  for (int64_t i = 0; i < nb; ++i) {
    int8_t lv[QK_K];
    int sc[8], summs = 0;
    for (int j = 0; j < 8; ++j) {
      uint8_t s, m;
      scale_min_k4(j, w[i].scales, &s, &m);
      sc[j] = s;
      summs += m * (x[i].bsums[2 * j] + x[i].bsums[2 * j + 1]);
      const uint8_t* q = w[i].qs + 32 * (j / 2);
      for (int l = 0; l < 32; ++l) {
        int v = (j & 1) ? (q[l] >> 4) : (q[l] & 0xf);
        if constexpr (kFive) v |= ((w[i].qh[l] >> j) & 1) << 4;
        lv[32 * j + l] = static_cast<int8_t>(v);
      }
    }
    int sumi = scaled_idot(lv, x[i].qs, sc, 32);
    sum += x[i].d * (fp16_to_f32(w[i].d) * static_cast<float>(sumi) - fp16_to_f32(w[i].dmin) * static_cast<float>(summs));
  }
  return sum;
}

float dot_q6_k(const BlockQ6_K* w, const BlockQ8_K* x, int64_t nb) {
  float sum = 0;
  for (int64_t i = 0; i < nb; ++i) {
    int8_t lv[QK_K];
    int sc[16];
    for (int j = 0; j < 16; ++j) sc[j] = w[i].scales[j];
    for (int e = 0; e < QK_K; ++e) {
      int half = e / 128, r = e % 128, quarter = r / 32, l = r % 32;
      uint8_t lb = w[i].ql[64 * half + l + 32 * (quarter & 1)];
      int lo = quarter < 2 ? (lb & 0xf) : (lb >> 4);
      int hi = (w[i].qh[32 * half + l] >> (2 * quarter)) & 3;
      lv[e] = static_cast<int8_t>((lo | (hi << 4)) - 32);
    }
    sum += fp16_to_f32(w[i].d) * x[i].d * static_cast<float>(scaled_idot(lv, x[i].qs, sc, 16));
  }
  return sum;
}

}  // namespace

bool vec_dot_k(DType t, int64_t n, const void* w, const void* x, float* out) {
  const int64_t nb = n / QK_K;
  auto xb = static_cast<const BlockQ8_K*>(x);
  switch (t) {
    case DType::Q2_K: *out = dot_q2_k(static_cast<const BlockQ2_K*>(w), xb, nb); return true;
    case DType::Q3_K: *out = dot_q3_k(static_cast<const BlockQ3_K*>(w), xb, nb); return true;
    case DType::Q4_K: *out = dot_q45_k<BlockQ4_K, false>(static_cast<const BlockQ4_K*>(w), xb, nb); return true;
    case DType::Q5_K: *out = dot_q45_k<BlockQ5_K, true>(static_cast<const BlockQ5_K*>(w), xb, nb); return true;
    case DType::Q6_K: *out = dot_q6_k(static_cast<const BlockQ6_K*>(w), xb, nb); return true;
    default: return false;
  }
}

}  // namespace hearth::q

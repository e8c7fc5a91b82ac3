#include "backend/cpu/attention.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "quant/fp16.h"

namespace hearth::cpu {

float dot_f32_f16_ref(const float* a, const uint16_t* b, int n) {
  float s = 0;
  for (int i = 0; i < n; ++i) s += a[i] * fp16_to_f32(b[i]);
  return s;
}

void axpy_f16_ref(float a, const uint16_t* x, float* y, int n) {
  for (int i = 0; i < n; ++i) y[i] += a * fp16_to_f32(x[i]);
}

void f32_to_f16_row_ref(const float* x, uint16_t* y, int n) {
  for (int i = 0; i < n; ++i) y[i] = f32_to_fp16(x[i]);
}

bool cpu_has_avx2_f16c() {
  static const bool has = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
                          __builtin_cpu_supports("f16c");
  return has;
}

namespace {

float dot_row(const float* q, const void* base, DType type, int64_t off, int n) {
  if (type == DType::F32) {
    const float* k = static_cast<const float*>(base) + off;
    float s = 0;
    for (int i = 0; i < n; ++i) s += q[i] * k[i];
    return s;
  }
  const uint16_t* k = static_cast<const uint16_t*>(base) + off;
  return cpu_has_avx2_f16c() ? dot_f32_f16_avx2(q, k, n) : dot_f32_f16_ref(q, k, n);
}

void axpy_row(float a, const void* base, DType type, int64_t off, float* acc, int n) {
  if (type == DType::F32) {
    const float* v = static_cast<const float*>(base) + off;
    for (int i = 0; i < n; ++i) acc[i] += a * v[i];
    return;
  }
  const uint16_t* v = static_cast<const uint16_t*>(base) + off;
  if (cpu_has_avx2_f16c())
    axpy_f16_avx2(a, v, acc, n);
  else
    axpy_f16_ref(a, v, acc, n);
}

void store_row(void* base, DType type, int64_t off, const float* src, int n) {
  if (type == DType::F32) {
    std::memcpy(static_cast<float*>(base) + off, src, n * sizeof(float));
    return;
  }
  uint16_t* d = static_cast<uint16_t*>(base) + off;
  if (cpu_has_avx2_f16c())
    f32_to_f16_row_avx2(src, d, n);
  else
    f32_to_f16_row_ref(src, d, n);
}

}  // namespace

void kv_store(const float* k, const float* v, const KvLayer& kv, int n_tokens, const int32_t* pos,
              const int32_t* seq) {
  for (int t = 0; t < n_tokens; ++t) {
    int64_t off = (static_cast<int64_t>(seq[t]) * kv.n_ctx + pos[t]) * kv.kv_dim;
    store_row(kv.k, kv.type, off, k + static_cast<int64_t>(t) * kv.kv_dim, kv.kv_dim);
    store_row(kv.v, kv.type, off, v + static_cast<int64_t>(t) * kv.kv_dim, kv.kv_dim);
  }
}

void attention(const float* q, const KvLayer& kv, int n_tokens, const int32_t* pos, const int32_t* seq, float* out,
               const AttentionParams& p, ThreadPool& pool) {
  const int hd = p.head_dim, group = p.n_head / p.n_head_kv;
  // Later tokens attend to more keys: threads take small chunks of (token, head) jobs as they finish.
  const int64_t jobs = static_cast<int64_t>(n_tokens) * p.n_head;
  pool.parallel_for_dynamic(jobs, std::max<int64_t>(1, jobs / (8 * pool.size())), [&](int64_t b, int64_t e, int) {
    std::vector<float> scores;
    for (int64_t job = b; job < e; ++job) {
      const int t = static_cast<int>(job / p.n_head), h = static_cast<int>(job % p.n_head);
      const int kvh = h / group, n_keys = pos[t] + 1;
      const int64_t base = static_cast<int64_t>(seq[t]) * kv.n_ctx;
      const float* qh = q + (static_cast<int64_t>(t) * p.n_head + h) * hd;
      scores.resize(n_keys);
      float mx = -INFINITY;
      for (int j = 0; j < n_keys; ++j) {
        scores[j] = dot_row(qh, kv.k, kv.type, (base + j) * kv.kv_dim + kvh * hd, hd) * p.scale;
        mx = std::max(mx, scores[j]);
      }
      float sum = 0;
      for (int j = 0; j < n_keys; ++j) sum += (scores[j] = std::exp(scores[j] - mx));
      float* acc = out + (static_cast<int64_t>(t) * p.n_head + h) * hd;
      std::fill(acc, acc + hd, 0.0f);
      const float inv = 1.0f / sum;
      for (int j = 0; j < n_keys; ++j)
        axpy_row(scores[j] * inv, kv.v, kv.type, (base + j) * kv.kv_dim + kvh * hd, acc, hd);
    }
  });
}

}  // namespace hearth::cpu

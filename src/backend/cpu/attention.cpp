#include "backend/cpu/attention.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "backend/cpu/kernels.h"
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
  // The same test as the matmul kernels' (AVX2, FMA and F16C), made once there.
  return best_isa() != Isa::Scalar;
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

void softcap_scores(float* s, int n, float softcap) {
  if (softcap <= 0) return;
  for (int j = 0; j < n; ++j) s[j] = softcap * std::tanh(s[j] / softcap);
}

void attend_ref(const float* q, const void* k, const void* v, DType type, int64_t stride, int n_keys, int hd,
                float scale, float softcap, float* out, std::vector<float>& scores) {
  scores.resize(n_keys);
  for (int j = 0; j < n_keys; ++j) scores[j] = dot_row(q, k, type, j * stride, hd) * scale;
  softcap_scores(scores.data(), n_keys, softcap);
  float mx = -INFINITY;
  for (int j = 0; j < n_keys; ++j) mx = std::max(mx, scores[j]);
  float sum = 0;
  for (int j = 0; j < n_keys; ++j) sum += (scores[j] = std::exp(scores[j] - mx));
  std::fill(out, out + hd, 0.0f);
  const float inv = 1.0f / sum;
  for (int j = 0; j < n_keys; ++j) axpy_row(scores[j] * inv, v, type, j * stride, out, hd);
}

void attention(const float* q, const KvLayer& kv, int n_tokens, const int32_t* pos, const int32_t* seq, float* out,
               const AttentionParams& p, ThreadPool& pool) {
  const int hd = p.head_dim, group = p.n_head / p.n_head_kv;
  const bool fast = kv.type == DType::F16 && cpu_has_avx2_f16c();
  // Later tokens attend to more keys: threads take small chunks of (token, head) jobs as they finish.
  const int64_t jobs = static_cast<int64_t>(n_tokens) * p.n_head;
  pool.parallel_for_dynamic(jobs, std::max<int64_t>(1, jobs / (8 * pool.size())), [&](int64_t b, int64_t e, int) {
    thread_local std::vector<float> scores;
    for (int64_t job = b; job < e; ++job) {
      const int t = static_cast<int>(job / p.n_head), h = static_cast<int>(job % p.n_head);
      // Keys first_key .. pos[t]: all of them, or the last `window` (a sliding window).
      const int first_key = p.window > 0 ? std::max(0, pos[t] + 1 - p.window) : 0;
      const int n_keys = pos[t] + 1 - first_key;
      const int64_t first =
          (static_cast<int64_t>(seq[t]) * kv.n_ctx + first_key) * kv.kv_dim + (h / group) * hd;
      const float* qh = q + (static_cast<int64_t>(t) * p.n_head + h) * hd;
      float* oh = out + (static_cast<int64_t>(t) * p.n_head + h) * hd;
      if (fast)
        attend_f16_avx2(qh, static_cast<const uint16_t*>(kv.k) + first, static_cast<const uint16_t*>(kv.v) + first,
                        kv.kv_dim, n_keys, hd, p.scale, p.softcap, oh, scores);
      else
        attend_ref(qh, static_cast<const char*>(kv.k) + first * dtype_info(kv.type).block_bytes,
                   static_cast<const char*>(kv.v) + first * dtype_info(kv.type).block_bytes, kv.type, kv.kv_dim,
                   n_keys, hd, p.scale, p.softcap, oh, scores);
    }
  });
}

}  // namespace hearth::cpu

// CPU attention over the KV cache, and its F16 row helpers (F16C/AVX2 when the CPU has them).
#pragma once
#include <cstdint>
#include <vector>

#include "backend/backend.h"
#include "backend/cpu/thread_pool.h"

namespace hearth::cpu {

// Causal attention of n_tokens queries; pos/seq per token as set_batch gave them.
void attention(const float* q, const KvLayer& kv, int n_tokens, const int32_t* pos, const int32_t* seq, float* out,
               const AttentionParams& p, ThreadPool& pool);
// Writes rows of k, v into the cache at (seq, pos).
void kv_store(const float* k, const float* v, const KvLayer& kv, int n_tokens, const int32_t* pos,
              const int32_t* seq);

// Row kernels (the scalar versions are the reference for the SIMD ones).
float dot_f32_f16_ref(const float* a, const uint16_t* b, int n);
void axpy_f16_ref(float a, const uint16_t* x, float* y, int n);  // y += a * x
void f32_to_f16_row_ref(const float* x, uint16_t* y, int n);
float dot_f32_f16_avx2(const float* a, const uint16_t* b, int n);
void axpy_f16_avx2(float a, const uint16_t* x, float* y, int n);
void f32_to_f16_row_avx2(const float* x, uint16_t* y, int n);
bool cpu_has_avx2_f16c();

// One query row against n_keys cache rows (F16, stride elements apart): out[hd] = softmax(cap(scale * q.k)) . v,
// cap(s) = softcap * tanh(s / softcap) when softcap > 0. scores is scratch. The _ref version works on F16 or F32
// rows and is the reference for the AVX2 one.
void attend_f16_avx2(const float* q, const uint16_t* k, const uint16_t* v, int64_t stride, int n_keys, int hd,
                     float scale, float softcap, float* out, std::vector<float>& scores);
void attend_ref(const float* q, const void* k, const void* v, DType type, int64_t stride, int n_keys, int hd,
                float scale, float softcap, float* out, std::vector<float>& scores);
// Applies cap() to n scores in place (nothing when softcap is 0).
void softcap_scores(float* s, int n, float softcap);

}  // namespace hearth::cpu

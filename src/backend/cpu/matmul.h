// CPU matrix multiplication for every weight type: y[t, r] = W[r, :] . x[t, :].
#pragma once
#include <cstdint>
#include <vector>

#include "backend/backend.h"
#include "backend/cpu/thread_pool.h"

namespace hearth::cpu {

// Buffers reused between calls: activations quantized to the weight's dot type, and their block sums.
struct MatmulScratch {
  std::vector<uint8_t> x;
  std::vector<int32_t> sums;
};

// Uses w.packed (packed.h) when set, w.data otherwise.
void matmul(const Weight& w, const float* x, float* y, int n_tokens, ThreadPool& pool, MatmulScratch& scratch);

// Dequantizes row `row` of w into out[w.cols()].
void get_row(const Weight& w, int64_t row, float* out);

}  // namespace hearth::cpu

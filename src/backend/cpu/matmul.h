// CPU matrix multiplication for every weight type: y[t, r] = W[r, :] . x[t, :].
#pragma once
#include <cstdint>
#include <vector>

#include "backend/backend.h"
#include "backend/cpu/thread_pool.h"

namespace hearth::cpu {

// scratch is reused between calls (activations quantized to the weight's dot type).
void matmul(const Weight& w, const float* x, float* y, int n_tokens, ThreadPool& pool, std::vector<uint8_t>& scratch);

// Dequantizes row `row` of w into out[w.cols()].
void get_row(const Weight& w, int64_t row, float* out);

}  // namespace hearth::cpu

#include "backend/cpu/matmul.h"

#include "quant/quant.h"

namespace hearth::cpu {

void matmul(const Weight& w, const float* x, float* y, int n_tokens, ThreadPool& pool, std::vector<uint8_t>& scratch) {
  const int64_t rows = w.rows(), cols = w.cols();
  const DType vt = vec_dot_type(w.type);
  const size_t xrow = row_bytes(vt, cols), wrow = row_bytes(w.type, cols);
  scratch.resize(xrow * n_tokens);
  pool.parallel_for(n_tokens, [&](int64_t b, int64_t e, int) {
    for (int64_t t = b; t < e; ++t) quantize_row_ref(vt, x + t * cols, scratch.data() + t * xrow, cols);
  });
  auto wbytes = static_cast<const uint8_t*>(w.data);
  pool.parallel_for(rows, [&](int64_t b, int64_t e, int) {
    for (int64_t r = b; r < e; ++r)
      for (int t = 0; t < n_tokens; ++t)
        y[t * rows + r] = vec_dot_ref(w.type, cols, wbytes + r * wrow, scratch.data() + t * xrow);
  });
}

void get_row(const Weight& w, int64_t row, float* out) {
  auto p = static_cast<const uint8_t*>(w.data) + row * row_bytes(w.type, w.cols());
  dequantize_row_ref(w.type, p, out, w.cols());
}

}  // namespace hearth::cpu

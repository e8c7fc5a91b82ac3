// Matmul driver: quantizes the activations once to the weight type's dot type, then runs tile kernels
// (kernels.h) over rows split across threads. Decode (one token) streams each weight row once with a
// tile of several rows; prompt batches use row x token tiles so each weight block is loaded once per tile,
// with the tokens processed in blocks that stay in L2 while a thread's rows are swept.
#include "backend/cpu/matmul.h"

#include <algorithm>
#include <string>

#include "backend/cpu/kernels.h"
#include "backend/cpu/packed.h"
#include "hearth/error.h"
#include "quant/blocks.h"
#include "quant/quant.h"

namespace hearth::cpu {
namespace {

constexpr int kTokenBlock = 64;  // tokens whose activations stay cache-resident while rows are swept
constexpr int kSmallBatch = 16;  // up to this many tokens, a matmul streams the weights once (decode, serving)

struct Job {
  const Kernel* k;
  int64_t cols;
  const uint8_t* w;
  size_t wrow;
  const uint8_t* x;
  size_t xrow;
  float* y;
  int64_t rows;
  int n_tokens;
};

// Work units per chunk that threads take as they finish: several chunks per thread, so that a thread the OS
// preempts (other programs on the machine) does not hold up the others.
int64_t chunk_size(int64_t units, int threads) { return std::max<int64_t>(1, units / (8 * threads)); }

// Rows [r0, r1) for all tokens. Rows and tokens past the end are padded with the last valid one
// (their results are dropped), so tiles never need a remainder kernel.
void run_rows(const Job& j, int64_t r0, int64_t r1) {
  const Kernel& k = *j.k;
  const uint8_t* wp[8];
  const uint8_t* xp[8];
  float out[64];
  if (j.n_tokens == 1) {
    const int R = k.decode_rows;
    xp[0] = j.x;
    for (int64_t r = r0; r < r1; r += R) {
      const int nr = static_cast<int>(std::min<int64_t>(R, r1 - r));
      for (int i = 0; i < R; ++i) wp[i] = j.w + (r + std::min(i, nr - 1)) * j.wrow;
      k.decode(j.cols, wp, xp, out);
      for (int i = 0; i < nr; ++i) j.y[r + i] = out[i];
    }
    return;
  }
  const int R = k.gemm_rows, T = k.gemm_tokens;
  for (int t0 = 0; t0 < j.n_tokens; t0 += kTokenBlock) {
    const int t1 = std::min(j.n_tokens, t0 + kTokenBlock);
    for (int64_t r = r0; r < r1; r += R) {
      const int nr = static_cast<int>(std::min<int64_t>(R, r1 - r));
      for (int i = 0; i < R; ++i) wp[i] = j.w + (r + std::min(i, nr - 1)) * j.wrow;
      for (int t = t0; t < t1; t += T) {
        const int nt = std::min(T, t1 - t);
        for (int i = 0; i < T; ++i) xp[i] = j.x + static_cast<size_t>(t + std::min(i, nt - 1)) * j.xrow;
        k.gemm(j.cols, wp, xp, out);
        for (int a = 0; a < nr; ++a)
          for (int b = 0; b < nt; ++b) j.y[static_cast<int64_t>(t + b) * j.rows + r + a] = out[a * T + b];
      }
    }
  }
}

// The packed path: groups of kPackRows rows. xs holds the per-block sums of each token's activation quants.
struct PackedJob {
  const PackedKernel* k;
  int64_t cols;
  const uint8_t* w;
  size_t group_bytes;
  const uint8_t* x;
  size_t xrow;
  const int32_t* xs;
  int64_t nb;
  float* y;
  int64_t rows;
  int n_tokens;
};

void run_groups(const PackedJob& j, int64_t g0, int64_t g1) {
  const uint8_t* xp[16];
  const int32_t* sp[16];
  float out[2 * kPackRows * 16];
  PackedKernel k = *j.k;
  if (j.n_tokens <= kSmallBatch) {  // each weight is read once: the streaming variants
    if (k.gemm_stream) k.gemm = k.gemm_stream;
    if (k.gemm2_stream) k.gemm2 = k.gemm2_stream;
  }
  for (int t0 = 0; t0 < j.n_tokens; t0 += kTokenBlock) {
    const int t1 = std::min(j.n_tokens, t0 + kTokenBlock);
    for (int64_t g = g0; g < g1;) {
      const bool pair = k.gemm2 && g + 1 < g1;  // two groups per call where the kernel has it
      const int64_t r0 = g * kPackRows;
      const int nr = static_cast<int>(std::min<int64_t>((pair ? 2 : 1) * kPackRows, j.rows - r0));
      const uint8_t* grp = j.w + g * j.group_bytes;
      for (int t = t0; t < t1;) {
        // Fewer tokens left than a gemm tile takes: two at a time where the kernel has it, then one.
        const bool one = t1 - t < k.gemm_tokens;
        const bool two = one && k.pair && t1 - t >= 2;
        const int T = two ? 2 : one ? 1 : k.gemm_tokens;
        for (int i = 0; i < T; ++i) {
          xp[i] = j.x + static_cast<size_t>(t + i) * j.xrow;
          sp[i] = j.xs + static_cast<int64_t>(t + i) * j.nb;
        }
        if (pair && !one) {
          k.gemm2(j.cols, grp, xp, sp, out);
        } else {
          // A single token (or the last ones) over a pair: one group at a time.
          for (int half = 0; half < (pair ? 2 : 1); ++half)
            (two ? k.pair : one ? k.decode : k.gemm)(j.cols, grp + half * j.group_bytes, xp, sp,
                                                     out + half * kPackRows * T);
        }
        for (int a = 0; a < nr; ++a)
          for (int b = 0; b < T; ++b) j.y[static_cast<int64_t>(t + b) * j.rows + r0 + a] = out[a * T + b];
        t += T;
      }
      g += pair ? 2 : 1;
    }
  }
}

void matmul_packed(const Weight& w, const PackedKernel& k, const uint8_t* xq, size_t xrow, float* y, int n_tokens,
                   ThreadPool& pool, std::vector<int32_t>& sums) {
  const int64_t rows = w.rows(), cols = w.cols(), nb = cols / 32;
  sums.resize(static_cast<size_t>(nb) * n_tokens);
  const bool q8_0 = vec_dot_type(w.type) == DType::Q8_0;  // Q8_K rows carry their own sums
  for (int t = 0; t < n_tokens && q8_0; ++t) {
    const auto* xb = reinterpret_cast<const q::BlockQ8_0*>(xq + static_cast<size_t>(t) * xrow);
    for (int64_t b = 0; b < nb; ++b) {
      int32_t s = 0;
      for (int8_t v : xb[b].qs) s += v;
      sums[t * nb + b] = s;
    }
  }
  PackedJob j{&k, cols, static_cast<const uint8_t*>(w.packed), packed_group_bytes(w.type, cols), xq, xrow,
              sums.data(), nb, y, rows, n_tokens};
  const int64_t groups = (rows + kPackRows - 1) / kPackRows;
  const int64_t chunk = k.gemm2 && n_tokens > 1 ? (chunk_size(groups, pool.size()) + 1) / 2 * 2 : chunk_size(groups, pool.size());
  pool.parallel_for_dynamic(groups, chunk,
                            [&](int64_t g0, int64_t g1, int) { run_groups(j, g0, g1); });
}

}  // namespace

void matmul(const Weight& w, const float* x, float* y, int n_tokens, ThreadPool& pool, MatmulScratch& scratch) {
  const int64_t rows = w.rows(), cols = w.cols();
  if (n_tokens <= 0 || rows == 0) return;
  const Kernel k = kernel_for(w.type, active_isa());
  if (!k) throw Error("matmul: unsupported weight type " + std::string(dtype_name(w.type)));
  const DType vt = vec_dot_type(w.type);
  if (cols % dtype_info(vt).block_size != 0 || cols % dtype_info(w.type).block_size != 0)
    throw Error("matmul: row length " + std::to_string(cols) + " is not a multiple of the " +
                std::string(dtype_name(w.type)) + " block size");

  Job j{&k, cols, static_cast<const uint8_t*>(w.data), row_bytes(w.type, cols), nullptr, 0, y, rows, n_tokens};
  if (vt == DType::F32) {
    j.x = reinterpret_cast<const uint8_t*>(x);
    j.xrow = static_cast<size_t>(cols) * sizeof(float);
  } else {
    j.xrow = row_bytes(vt, cols);
    scratch.x.resize(j.xrow * n_tokens);
    uint8_t* xq = scratch.x.data();
    const QuantizeFn quantize = quantizer_for(vt, active_isa());
    if (n_tokens == 1) {
      quantize(x, xq, cols);
    } else {
      pool.parallel_for(n_tokens, [&](int64_t b, int64_t e, int) {
        for (int64_t t = b; t < e; ++t) quantize(x + t * cols, xq + t * j.xrow, cols);
      });
    }
    j.x = xq;
    if (w.packed)
      if (PackedKernel pk = packed_kernel_for(w.type, active_isa()))
        return matmul_packed(w, pk, xq, j.xrow, y, n_tokens, pool, scratch.sums);
  }

  // Chunks of whole tiles, so that only the last chunk has a partial tile.
  const int tile = n_tokens == 1 ? k.decode_rows : k.gemm_rows;
  const int64_t tiles = (rows + tile - 1) / tile;
  pool.parallel_for_dynamic(tiles, chunk_size(tiles, pool.size()), [&](int64_t t0, int64_t t1, int) {
    run_rows(j, t0 * tile, std::min(rows, t1 * tile));
  });
}

void get_row(const Weight& w, int64_t row, float* out) {
  auto p = static_cast<const uint8_t*>(w.data) + row * row_bytes(w.type, w.cols());
  dequantize_row_ref(w.type, p, out, w.cols());
}

}  // namespace hearth::cpu

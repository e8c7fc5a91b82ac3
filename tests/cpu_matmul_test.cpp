// CPU matmul: every tile kernel at every instruction-set level this machine has, against the reference dot
// product (tight) and against a dequantize-then-f32 matmul (within the activation quantization error).
#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <stdexcept>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "backend/cpu/kernels.h"
#include "backend/cpu/matmul.h"
#include "backend/cpu/packed.h"
#include "backend/cpu/thread_pool.h"
#include "quant/blocks.h"
#include "quant/quant.h"
#include "test_util.h"

namespace hearth::cpu {
namespace {

const DType kTypes[] = {DType::F32, DType::F16, DType::BF16, DType::Q4_0, DType::Q4_1, DType::Q5_0, DType::Q5_1,
                        DType::Q8_0, DType::Q2_K, DType::Q3_K, DType::Q4_K, DType::Q5_K, DType::Q6_K};

using test::random_normal;

std::vector<Isa> levels() {
  std::vector<Isa> v;
  for (int l = 0; l <= static_cast<int>(best_isa()); ++l) v.push_back(static_cast<Isa>(l));
  return v;
}

struct IsaGuard {
  explicit IsaGuard(Isa isa) { set_isa(isa); }
  ~IsaGuard() { set_isa(best_isa()); }
};

struct Case {
  DType type;
  Isa isa;
};

std::string case_name(const ::testing::TestParamInfo<Case>& info) {
  std::string s = std::string(dtype_name(info.param.type)) + "_" + isa_name(info.param.isa);
  for (auto& c : s)
    if (c == '-') c = '_';
  return s;
}

std::vector<Case> all_cases() {
  std::vector<Case> v;
  for (Isa isa : levels())
    for (DType t : kTypes) v.push_back({t, isa});
  return v;
}

class TileKernel : public ::testing::TestWithParam<Case> {};

// Each tile output equals the reference vec_dot of its row and token (same integer math, float order differs).
TEST_P(TileKernel, MatchesReferenceDot) {
  const auto [type, isa] = GetParam();
  Kernel k = kernel_at(type, isa);
  if (!k) GTEST_SKIP() << "no " << isa_name(isa) << " kernel for " << dtype_name(type);
  const DType vt = vec_dot_type(type);
  for (int64_t n : {256, 768, 2048}) {
    const int R = std::max(k.decode_rows, k.gemm_rows), T = std::max(1, k.gemm_tokens);
    std::vector<std::vector<uint8_t>> wq(R), xq(T);
    std::vector<const uint8_t*> wp(R), xp(T);
    for (int r = 0; r < R; ++r) {
      auto w = random_normal(n, 100 + r);
      wq[r].resize(row_bytes(type, n));
      quantize_row_ref(type, w.data(), wq[r].data(), n);
      wp[r] = wq[r].data();
    }
    for (int t = 0; t < T; ++t) {
      auto x = random_normal(n, 200 + t);
      xq[t].resize(row_bytes(vt, n));
      quantize_row_ref(vt, x.data(), xq[t].data(), n);
      xp[t] = xq[t].data();
    }
    auto check = [&](TileFn fn, int rows, int toks, const char* what) {
      std::vector<float> out(rows * toks);
      fn(n, wp.data(), xp.data(), out.data());
      for (int r = 0; r < rows; ++r)
        for (int t = 0; t < toks; ++t) {
          float want = vec_dot_ref(type, n, wp[r], xp[t]);
          EXPECT_NEAR(out[r * toks + t], want, 1e-4f * std::sqrt(float(n)) * (1 + std::fabs(want) / 100))
              << what << " n=" << n << " r=" << r << " t=" << t;
        }
    };
    check(k.decode, k.decode_rows, 1, "decode");
    check(k.gemm, k.gemm_rows, k.gemm_tokens, "gemm");
  }
}

INSTANTIATE_TEST_SUITE_P(AllTypes, TileKernel, ::testing::ValuesIn(all_cases()), case_name);

struct MatmulCase {
  DType type;
  Isa isa;
};

class Matmul : public ::testing::TestWithParam<Case> {
 protected:
  void check_against_f32(bool packed);
};

// cpu::matmul against y = dequant(W) . x in double precision, for shapes with partial tiles.
TEST_P(Matmul, MatchesDequantizedF32) { check_against_f32(false); }

// The same with the weights in the packed layout (types that have one).
TEST_P(Matmul, PackedMatchesDequantizedF32) {
  if (!packable(GetParam().type)) GTEST_SKIP() << "no packed layout for " << dtype_name(GetParam().type);
  check_against_f32(true);
}

void Matmul::check_against_f32(bool packed) {
  const auto [type, isa] = GetParam();
  IsaGuard guard(isa);
  const bool kq = dtype_info(vec_dot_type(type)).block_size == 256 || dtype_info(type).block_size == 256;
  struct Shape { int64_t rows, cols; int tokens; };
  std::vector<Shape> shapes = {{13, 256, 1}, {37, 512, 3}, {70, 256, 17}, {9, 768, 64}, {300, 256, 9}, {300, 256, 6}};
  if (!kq) shapes.push_back({21, 96, 5}), shapes.push_back({35, 160, 1});  // rows not a multiple of 256
  if (dtype_info(type).block_size == 1) shapes.push_back({7, 100, 3});       // odd lengths for float weights
  for (int threads : {1, 2}) {
    ThreadPool pool(threads);
    MatmulScratch scratch;
    for (const Shape& s : shapes) {
      auto wf = random_normal(s.rows * s.cols, 7), x = random_normal(s.tokens * s.cols, 8);
      std::vector<uint8_t> wq(row_bytes(type, s.cols) * s.rows);
      for (int64_t r = 0; r < s.rows; ++r)
        quantize_row_ref(type, wf.data() + r * s.cols, wq.data() + r * row_bytes(type, s.cols), s.cols);
      std::vector<float> wd(s.rows * s.cols);
      for (int64_t r = 0; r < s.rows; ++r)
        dequantize_row_ref(type, wq.data() + r * row_bytes(type, s.cols), wd.data() + r * s.cols, s.cols);
      Weight w;
      w.type = type;
      w.ne[0] = s.cols;
      w.ne[1] = s.rows;
      w.data = wq.data();
      w.nbytes = wq.size();
      std::vector<uint8_t> wp(packed ? packed_bytes(type, s.rows, s.cols) : 0);
      if (packed) {
        for (int64_t g = 0; g * kPackRows < s.rows; ++g)
          pack_group(type, wq.data(), s.rows, s.cols, g, wp.data() + g * packed_group_bytes(type, s.cols));
        w.packed = wp.data();
        w.data = nullptr;  // the packed path must not read the file layout
      }
      std::vector<float> y(s.tokens * s.rows, -1.0f);
      matmul(w, x.data(), y.data(), s.tokens, pool, scratch);
      // 8-bit activations add ~0.5% relative error per product; float weights are exact up to rounding.
      const double rel = vec_dot_type(type) == DType::F32 ? 1e-5 : 2e-2;
      double err = 0, ref_norm = 0;
      for (int t = 0; t < s.tokens; ++t)
        for (int64_t r = 0; r < s.rows; ++r) {
          double want = 0;
          for (int64_t c = 0; c < s.cols; ++c) want += double(wd[r * s.cols + c]) * x[t * s.cols + c];
          double got = y[t * s.rows + r];
          err += (got - want) * (got - want);
          ref_norm += want * want;
          ASSERT_NEAR(got, want, 6 * rel * std::sqrt(double(s.cols)) + 1e-3)
              << "rows " << s.rows << " cols " << s.cols << " tokens " << s.tokens << " t " << t << " r " << r;
        }
      EXPECT_LE(err / ref_norm, rel * rel) << "normalized MSE, rows " << s.rows << " tokens " << s.tokens;
    }
  }
}

// Packing keeps every byte: each row unpacks to the file's row, for row counts that leave a partial group.
TEST(Packed, RoundTripsEveryRow) {
  for (DType type : kTypes) {
    if (!packable(type)) continue;
    for (int64_t rows : {1, 8, 13, 24}) {
      const int64_t cols = dtype_info(type).block_size == 256 ? 512 : 96;
      const size_t rb = row_bytes(type, cols);
      auto wf = random_normal(rows * cols, 11);
      std::vector<uint8_t> wq(rb * rows), wp(packed_bytes(type, rows, cols)), back(rb);
      for (int64_t r = 0; r < rows; ++r) quantize_row_ref(type, wf.data() + r * cols, wq.data() + r * rb, cols);
      for (int64_t g = 0; g * kPackRows < rows; ++g)
        pack_group(type, wq.data(), rows, cols, g, wp.data() + g * packed_group_bytes(type, cols));
      for (int64_t r = 0; r < rows; ++r) {
        unpack_row(type, wp.data(), cols, r, back.data());
        EXPECT_EQ(0, std::memcmp(back.data(), wq.data() + r * rb, rb)) << dtype_name(type) << " row " << r;
      }
    }
  }
}

class PackedKernelTest : public ::testing::TestWithParam<Case> {};

// Each packed tile output equals the reference vec_dot of its (unpacked) row and token.
TEST_P(PackedKernelTest, MatchesReferenceDot) {
  const auto [type, isa] = GetParam();
  PackedKernel k = packed_kernel_at(type, isa);
  if (!k) GTEST_SKIP() << "no " << isa_name(isa) << " packed kernel for " << dtype_name(type);
  const DType vt = vec_dot_type(type);
  const int64_t n = 1024, rows = 2 * kPackRows;  // two groups: gemm2 covers both
  const size_t rb = row_bytes(type, n);
  auto wf = random_normal(rows * n, 21);
  // Extreme blocks: all-max and all-min quants, where biased products are largest.
  for (int j = 0; j < 32; ++j) wf[j] = 1.0f, wf[n + j] = -1.0f;
  std::vector<uint8_t> wq(rb * rows), wp(packed_bytes(type, rows, n));
  for (int64_t r = 0; r < rows; ++r) quantize_row_ref(type, wf.data() + r * n, wq.data() + r * rb, n);
  for (int g = 0; g < 2; ++g) pack_group(type, wq.data(), rows, n, g, wp.data() + g * packed_group_bytes(type, n));
  const int T = k.gemm_tokens;
  std::vector<std::vector<uint8_t>> xq(T);
  std::vector<std::vector<int32_t>> xs(T);
  std::vector<const uint8_t*> xp(T);
  std::vector<const int32_t*> sp(T);
  for (int t = 0; t < T; ++t) {
    auto x = random_normal(n, 300 + t);
    for (int j = 0; j < 32; ++j) x[j] = t % 2 ? -2.0f : 2.0f;
    xq[t].resize(row_bytes(vt, n));
    quantize_row_ref(vt, x.data(), xq[t].data(), n);
    for (int64_t b = 0; b < n / 32; ++b) {
      int32_t sum = 0;
      for (int j = 0; j < 32; ++j) sum += reinterpret_cast<const q::BlockQ8_0*>(xq[t].data())[b].qs[j];
      xs[t].push_back(sum);
    }
    xp[t] = xq[t].data();
    sp[t] = xs[t].data();
  }
  auto check = [&](PackedFn fn, int toks, const char* what, int nrows = kPackRows) {
    std::vector<float> out(nrows * toks);
    fn(n, wp.data(), xp.data(), sp.data(), out.data());
    for (int r = 0; r < nrows; ++r)
      for (int t = 0; t < toks; ++t) {
        float want = vec_dot_ref(type, n, wq.data() + r * rb, xp[t]);
        EXPECT_NEAR(out[r * toks + t], want, 1e-5f * (std::fabs(want) + 1)) << what << " r=" << r << " t=" << t;
      }
  };
  check(k.decode, 1, "decode");
  check(k.gemm, T, "gemm");
  if (k.gemm2) check(k.gemm2, T, "gemm2", 2 * kPackRows);
  if (k.pair) check(k.pair, 2, "pair");
  if (k.gemm_stream) check(k.gemm_stream, T, "gemm_stream");
  if (k.gemm2_stream) check(k.gemm2_stream, T, "gemm2_stream", 2 * kPackRows);
}

std::vector<Case> packed_cases() {
  std::vector<Case> v;
  for (Case c : all_cases())
    if (packable(c.type)) v.push_back(c);
  return v;
}

INSTANTIATE_TEST_SUITE_P(PackedTypes, PackedKernelTest, ::testing::ValuesIn(packed_cases()), case_name);

INSTANTIATE_TEST_SUITE_P(AllTypes, Matmul, ::testing::ValuesIn(all_cases()), case_name);

// The SIMD activation quantizers must produce the reference bytes, ties included.
TEST(MatmulIsa, QuantizersMatchReferenceBytes) {
  const int64_t n = 2048;
  auto x = random_normal(n, 9);
  // Blocks whose scale is exactly 1 (max 127) with values on .5 ties, and an all-zero block.
  for (int j = 0; j < 32; ++j) x[j] = j == 0 ? 127.0f : (j % 2 ? 2.5f : -3.5f);
  for (int j = 256; j < 512; ++j) x[j] = j == 300 ? -127.0f : (j % 3 ? 0.5f : -1.5f);
  for (int j = 512; j < 768; ++j) x[j] = 0.0f;
  x[900] = 5.0f, x[901] = -5.0f;  // equal magnitudes of both signs: the first one sets the sign
  for (Isa isa : levels())
    for (DType vt : {DType::Q8_0, DType::Q8_1, DType::Q8_K}) {
      std::vector<uint8_t> want(row_bytes(vt, n)), got(row_bytes(vt, n));
      quantize_row_ref(vt, x.data(), want.data(), n);
      quantizer_for(vt, isa)(x.data(), got.data(), n);
      EXPECT_EQ(want, got) << dtype_name(vt) << " at " << isa_name(isa);
    }
}

TEST(MatmulIsa, SetIsaClampsToBest) {
  EXPECT_EQ(set_isa(Isa::Avx512), best_isa());
  EXPECT_EQ(set_isa(Isa::Scalar), Isa::Scalar);
  EXPECT_EQ(active_isa(), Isa::Scalar);
  set_isa(best_isa());
}

TEST(MatmulIsa, EveryTypeHasAKernel) {
  for (DType t : kTypes) EXPECT_TRUE(kernel_for(t, Isa::Scalar)) << dtype_name(t);
}

}  // namespace
// Issue 15: an exception in a worker's part of a job ended the process (it escaped the worker thread). run()
// rethrows it once every thread is done, and the pool keeps working.
TEST(ThreadPool, AnExceptionOnAnyThreadIsRethrownByRun) {
  ThreadPool pool(3);
  for (int thrower : {2, 0}) {
    std::atomic<int> ran{0};
    EXPECT_THROW(pool.run([&](int ith, int) {
      ran++;
      if (ith == thrower) throw std::runtime_error("part failed");
    }),
                 std::runtime_error);
    EXPECT_EQ(ran.load(), 3);  // every part ran to its end before run() returned
  }
  std::atomic<int> sum{0};
  pool.run([&](int ith, int) { sum += ith + 1; });
  EXPECT_EQ(sum.load(), 6);
}

}  // namespace hearth::cpu

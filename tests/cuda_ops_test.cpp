// CUDA backend ops against the CPU backend and the scalar reference, on random data and shapes, with a
// normalized MSE threshold per weight type. Skips when no CUDA device is present.
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "backend/backend.h"
#include "hearth/error.h"
#include "quant/fp16.h"
#include "quant/quant.h"
#include "test_util.h"

namespace hearth {
namespace {

const DType kTypes[] = {DType::F32, DType::F16, DType::BF16, DType::Q4_0, DType::Q4_1, DType::Q5_0, DType::Q5_1,
                        DType::Q8_0, DType::Q2_K, DType::Q3_K, DType::Q4_K, DType::Q5_K, DType::Q6_K};

using test::random_normal;

double nmse(const std::vector<float>& ref, const std::vector<float>& got) {
  double num = 0, den = 0;
  for (size_t i = 0; i < ref.size(); ++i) {
    const double d = static_cast<double>(ref[i]) - got[i];
    num += d * d;
    den += static_cast<double>(ref[i]) * ref[i];
  }
  return den > 0 ? num / den : num;
}

bool is_float_type(DType t) { return t == DType::F32 || t == DType::F16 || t == DType::BF16; }

// Backend memory released with the buffer.
struct Buf {
  Backend* be = nullptr;
  void* p = nullptr;
  Buf(Backend& b, size_t bytes) : be(&b), p(b.alloc(bytes)) {}
  Buf(Backend& b, const void* src, size_t bytes) : Buf(b, bytes) { b.to_device(p, src, bytes); }
  ~Buf() { be->release(p); }
  Buf(const Buf&) = delete;
  Buf& operator=(const Buf&) = delete;
  float* f() const { return static_cast<float*>(p); }
};

std::vector<float> download(Backend& be, const void* p, size_t n) {
  std::vector<float> v(n);
  be.to_host(v.data(), p, n * sizeof(float));
  return v;
}

// A random rows x cols matrix quantized to t, and its dequantized values (the reference weights).
struct HostWeight {
  DType type;
  int64_t rows, cols;
  std::vector<uint8_t> bytes;
  std::vector<float> deq;  // [rows, cols]
};

HostWeight make_weight(DType t, int64_t rows, int64_t cols, uint32_t seed) {
  HostWeight w{t, rows, cols, {}, {}};
  std::vector<float> src = random_normal(static_cast<size_t>(rows * cols), seed);
  const size_t rb = row_bytes(t, cols);
  w.bytes.resize(rb * rows);
  w.deq.resize(rows * cols);
  for (int64_t r = 0; r < rows; ++r) {
    quantize_row_ref(t, src.data() + r * cols, w.bytes.data() + r * rb, cols);
    dequantize_row_ref(t, w.bytes.data() + r * rb, w.deq.data() + r * cols, cols);
  }
  return w;
}

Weight on_backend(const HostWeight& h, const Buf& b) {
  Weight w;
  w.type = h.type;
  w.ne[0] = h.cols;
  w.ne[1] = h.rows;
  w.data = b.p;
  w.nbytes = h.bytes.size();
  return w;
}

class CudaOps : public ::testing::Test {
 protected:
  void SetUp() override {
    if (cuda_device_count() == 0) GTEST_SKIP() << "no CUDA device (cuda_device_count() == 0)";
    gpu_ = make_cuda_backend(0);
    cpu_ = make_cpu_backend(2);
  }
  std::unique_ptr<Backend> gpu_, cpu_;
};

TEST(CudaDevices, CountNeverThrows) {
  const int n = cuda_device_count();
  EXPECT_GE(n, 0);
  EXPECT_EQ(cuda_devices().size(), static_cast<size_t>(n));
  if (n == 0) {
    EXPECT_THROW(make_cuda_backend(0), Error);
  }
}

TEST_F(CudaOps, ErrorsAreThrown) {
  EXPECT_THROW(make_cuda_backend(1000), Error);
  EXPECT_THROW(gpu_->alloc(size_t{1} << 52), Error);
  const auto devs = cuda_devices();
  ASSERT_FALSE(devs.empty());
  EXPECT_GT(devs[0].total_bytes, 0u);
  EXPECT_FALSE(devs[0].name.empty());
  EXPECT_GT(gpu_->free_memory(), 0u);
}

// Matmul for every type at decode and prompt batch sizes, against dequantize-then-f32 in double precision.
class CudaMatmul : public CudaOps, public ::testing::WithParamInterface<DType> {};

TEST_P(CudaMatmul, MatchesDequantizedReference) {
  const DType t = GetParam();
  for (int64_t cols : {int64_t{768}, int64_t{2048}}) {
    const int64_t rows = 131;
    HostWeight hw = make_weight(t, rows, cols, 7 + static_cast<uint32_t>(cols));
    Buf wb(*gpu_, hw.bytes.data(), hw.bytes.size());
    const Weight w = on_backend(hw, wb);
    for (int n_tokens : {1, 2, 3, 7, 8, 9, 64}) {
      std::vector<float> x = random_normal(n_tokens * cols, 100 + n_tokens);
      std::vector<float> ref(n_tokens * rows);
      for (int tt = 0; tt < n_tokens; ++tt)
        for (int64_t r = 0; r < rows; ++r) {
          double s = 0;
          for (int64_t c = 0; c < cols; ++c) s += static_cast<double>(hw.deq[r * cols + c]) * x[tt * cols + c];
          ref[tt * rows + r] = static_cast<float>(s);
        }
      Buf xb(*gpu_, x.data(), x.size() * 4), yb(*gpu_, ref.size() * 4);
      gpu_->matmul(w, xb.f(), yb.f(), n_tokens);
      const double e = nmse(ref, download(*gpu_, yb.p, ref.size()));
      // Quantized weights see int8 activations (decode) or F16 activations (prompt); float weights at
      // decode are exact up to summation order.
      const double limit = is_float_type(t) ? (n_tokens <= 8 ? 1e-9 : 1e-5) : 5e-4;
      EXPECT_LT(e, limit) << dtype_name(t) << " cols " << cols << " n_tokens " << n_tokens;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(AllTypes, CudaMatmul, ::testing::ValuesIn(kTypes),
                         [](const ::testing::TestParamInfo<DType>& i) { return std::string(dtype_name(i.param)); });

TEST_F(CudaOps, MatmulFloatOddShapes) {
  for (DType t : {DType::F32, DType::F16, DType::BF16}) {
    const int64_t rows = 37, cols = 100;
    HostWeight hw = make_weight(t, rows, cols, 3);
    Buf wb(*gpu_, hw.bytes.data(), hw.bytes.size());
    for (int n_tokens : {1, 5, 20}) {
      std::vector<float> x = random_normal(n_tokens * cols, 9);
      std::vector<float> ref(n_tokens * rows);
      for (int tt = 0; tt < n_tokens; ++tt)
        for (int64_t r = 0; r < rows; ++r) {
          double s = 0;
          for (int64_t c = 0; c < cols; ++c) s += static_cast<double>(hw.deq[r * cols + c]) * x[tt * cols + c];
          ref[tt * rows + r] = static_cast<float>(s);
        }
      Buf xb(*gpu_, x.data(), x.size() * 4), yb(*gpu_, ref.size() * 4);
      gpu_->matmul(on_backend(hw, wb), xb.f(), yb.f(), n_tokens);
      EXPECT_LT(nmse(ref, download(*gpu_, yb.p, ref.size())), 1e-5) << dtype_name(t) << " n " << n_tokens;
    }
  }
}

// The backend reuses quantized activations between matmuls of the same x; any op writing x must be seen.
TEST_F(CudaOps, MatmulSeesUpdatedActivations) {
  const int64_t rows = 64, cols = 256;
  HostWeight hw = make_weight(DType::Q4_0, rows, cols, 5);
  Buf wb(*gpu_, hw.bytes.data(), hw.bytes.size());
  const Weight w = on_backend(hw, wb);
  std::vector<float> x = random_normal(cols, 1), dx = random_normal(cols, 2);
  Buf xb(*gpu_, x.data(), cols * 4), db(*gpu_, dx.data(), cols * 4), y1(*gpu_, rows * 4), y2(*gpu_, rows * 4);
  gpu_->matmul(w, xb.f(), y1.f(), 1);
  gpu_->add(xb.f(), db.f(), cols);
  gpu_->matmul(w, xb.f(), y2.f(), 1);
  for (int64_t c = 0; c < cols; ++c) x[c] += dx[c];
  std::vector<float> ref(rows);
  for (int64_t r = 0; r < rows; ++r) {
    double s = 0;
    for (int64_t c = 0; c < cols; ++c) s += static_cast<double>(hw.deq[r * cols + c]) * x[c];
    ref[r] = static_cast<float>(s);
  }
  EXPECT_LT(nmse(ref, download(*gpu_, y2.p, rows)), 5e-4);
  // In place: y written over x, then x used again.
  gpu_->matmul(w, xb.f(), y1.f(), 1);
  HostWeight sq = make_weight(DType::Q8_0, cols, cols, 6);
  Buf sb(*gpu_, sq.bytes.data(), sq.bytes.size());
  gpu_->matmul(on_backend(sq, sb), xb.f(), xb.f(), 1);
  gpu_->matmul(w, xb.f(), y2.f(), 1);
  const std::vector<float> xn = download(*gpu_, xb.p, cols);
  for (int64_t r = 0; r < rows; ++r) {
    double s = 0;
    for (int64_t c = 0; c < cols; ++c) s += static_cast<double>(hw.deq[r * cols + c]) * xn[c];
    ref[r] = static_cast<float>(s);
  }
  EXPECT_LT(nmse(ref, download(*gpu_, y2.p, rows)), 5e-4);
}

TEST_F(CudaOps, GetRowsEveryType) {
  for (DType t : kTypes) {
    const int64_t rows = 40, cols = 512;
    HostWeight hw = make_weight(t, rows, cols, 11);
    Buf wb(*gpu_, hw.bytes.data(), hw.bytes.size());
    const std::vector<int32_t> ids = {3, 0, 39, 3, 17};
    Buf out(*gpu_, ids.size() * cols * 4);
    gpu_->get_rows(on_backend(hw, wb), ids.data(), static_cast<int>(ids.size()), out.f());
    std::vector<float> ref;
    for (int32_t id : ids) ref.insert(ref.end(), hw.deq.begin() + id * cols, hw.deq.begin() + (id + 1) * cols);
    EXPECT_LT(nmse(ref, download(*gpu_, out.p, ref.size())), 1e-12) << dtype_name(t);
    const int32_t bad = 40;
    EXPECT_THROW(gpu_->get_rows(on_backend(hw, wb), &bad, 1, out.f()), Error);
  }
}

TEST_F(CudaOps, RmsNorm) {
  for (int dim : {100, 4096}) {
    const int n_rows = 5;
    std::vector<float> x = random_normal(n_rows * dim, 1, 3.0f), w = random_normal(dim, 2);
    Weight wt;
    wt.ne[0] = dim;
    std::vector<float> out[2];
    Backend* bes[2] = {cpu_.get(), gpu_.get()};
    for (int b = 0; b < 2; ++b) {
      Buf xb(*bes[b], x.data(), x.size() * 4), wb(*bes[b], w.data(), w.size() * 4), yb(*bes[b], x.size() * 4);
      wt.data = wb.p;
      bes[b]->rms_norm(xb.f(), wt, yb.f(), n_rows, dim, 1e-5f);
      out[b] = download(*bes[b], yb.p, x.size());
    }
    EXPECT_LT(nmse(out[0], out[1]), 1e-10) << "dim " << dim;
  }
}

TEST_F(CudaOps, Rope) {
  const std::vector<int32_t> pos = {0, 1, 5, 100, 1000, 4000, 32000}, seq(7, 0);
  const int n_tokens = 7, n_heads = 3, head_dim = 128;
  std::vector<float> factors = random_normal(64, 5);
  for (auto& f : factors) f = 1.0f + std::fabs(f);
  for (bool neox : {false, true})
    for (int n_rot : {128, 64})
      for (bool ff : {false, true}) {
        RopeParams p;
        p.n_rot = n_rot;
        p.freq_base = 500000.0f;
        p.freq_scale = 0.5f;
        p.neox = neox;
        p.freq_factors = ff ? factors.data() : nullptr;
        std::vector<float> x = random_normal(n_tokens * n_heads * head_dim, 3), out[2];
        Backend* bes[2] = {cpu_.get(), gpu_.get()};
        for (int b = 0; b < 2; ++b) {
          Buf xb(*bes[b], x.data(), x.size() * 4);
          bes[b]->set_batch(pos.data(), seq.data(), n_tokens);
          bes[b]->rope(xb.f(), n_tokens, n_heads, head_dim, p);
          out[b] = download(*bes[b], xb.p, x.size());
        }
        EXPECT_LT(nmse(out[0], out[1]), 1e-10) << "neox " << neox << " n_rot " << n_rot << " ff " << ff;
      }
}

TEST_F(CudaOps, SwigluAndAdd) {
  const size_t n = 100003;
  std::vector<float> g = random_normal(n, 1, 4.0f), u = random_normal(n, 2), out[2], sum[2];
  Backend* bes[2] = {cpu_.get(), gpu_.get()};
  for (int b = 0; b < 2; ++b) {
    Buf gb(*bes[b], g.data(), n * 4), ub(*bes[b], u.data(), n * 4), ob(*bes[b], n * 4);
    bes[b]->swiglu(gb.f(), ub.f(), ob.f(), n);
    out[b] = download(*bes[b], ob.p, n);
    bes[b]->add(gb.f(), ub.f(), n);
    sum[b] = download(*bes[b], gb.p, n);
  }
  EXPECT_LT(nmse(out[0], out[1]), 1e-10);
  EXPECT_LT(nmse(sum[0], sum[1]), 1e-14);
}

// The other architectures' ops (LayerNorm with and without bias, GELU, GeGLU, bias rows, scaling) against the CPU
// backend, whose versions are the scalar references.
TEST_F(CudaOps, LayerNormGeluBiasScale) {
  Backend* bes[2] = {cpu_.get(), gpu_.get()};
  for (int dim : {100, 4096})
    for (bool with_bias : {false, true}) {
      const int n_rows = 5;
      std::vector<float> x = random_normal(n_rows * dim, 1, 3.0f), w = random_normal(dim, 2), bias = random_normal(dim, 3);
      for (float& v : x) v += 2.0f;  // a mean away from zero
      std::vector<float> out[2];
      for (int b = 0; b < 2; ++b) {
        Buf xb(*bes[b], x.data(), x.size() * 4), wb(*bes[b], w.data(), w.size() * 4),
            bb(*bes[b], bias.data(), bias.size() * 4), yb(*bes[b], x.size() * 4);
        Weight wt, bt;
        wt.ne[0] = bt.ne[0] = dim;
        wt.data = wb.p;
        if (with_bias) bt.data = bb.p;
        bes[b]->layer_norm(xb.f(), wt, bt, yb.f(), n_rows, dim, 1e-5f);
        out[b] = download(*bes[b], yb.p, x.size());
      }
      EXPECT_LT(nmse(out[0], out[1]), 1e-10) << "dim " << dim << " bias " << with_bias;
    }
  const size_t n = 100003;
  const int dim = 1000;  // n is not a multiple of it: add_bias takes whole rows only
  std::vector<float> g = random_normal(n, 1, 4.0f), u = random_normal(n, 2), bias = random_normal(dim, 3);
  std::vector<float> gelu[2], geglu[2], biased[2], scaled[2];
  for (int b = 0; b < 2; ++b) {
    Buf gb(*bes[b], g.data(), n * 4), ub(*bes[b], u.data(), n * 4), ob(*bes[b], n * 4),
        bb(*bes[b], bias.data(), dim * 4);
    bes[b]->gelu(gb.f(), ob.f(), n);
    gelu[b] = download(*bes[b], ob.p, n);
    bes[b]->geglu(gb.f(), ub.f(), ob.f(), n);
    geglu[b] = download(*bes[b], ob.p, n);
    Weight bt;
    bt.ne[0] = dim;
    bt.data = bb.p;
    bes[b]->add_bias(ub.f(), bt, static_cast<int>(n / dim));
    biased[b] = download(*bes[b], ub.p, n);
    bes[b]->scale(gb.f(), 0.37f, n);
    scaled[b] = download(*bes[b], gb.p, n);
  }
  EXPECT_LT(nmse(gelu[0], gelu[1]), 1e-10);
  EXPECT_LT(nmse(geglu[0], geglu[1]), 1e-10);
  EXPECT_LT(nmse(biased[0], biased[1]), 1e-14);
  EXPECT_EQ(biased[1][n - 1], u[n - 1]);  // past the last whole row: untouched
  EXPECT_LT(nmse(scaled[0], scaled[1]), 1e-14);
}

TEST_F(CudaOps, GatherAndScatterAddRows) {
  const int n_rows = 50, width = 1000, n = 7;
  const std::vector<int32_t> rows = {49, 0, 3, 17, 18, 2, 40};
  const std::vector<float> scales = {0.5f, -1.0f, 2.0f, 0.25f, 1.0f, 3.0f, -0.5f};
  std::vector<float> src = random_normal(static_cast<size_t>(n_rows) * width, 1), dst0 = random_normal(src.size(), 2);
  std::vector<float> gathered[2], scattered[2];
  Backend* bes[2] = {cpu_.get(), gpu_.get()};
  for (int b = 0; b < 2; ++b) {
    Buf sb(*bes[b], src.data(), src.size() * 4), gb(*bes[b], static_cast<size_t>(n) * width * 4),
        db(*bes[b], dst0.data(), dst0.size() * 4);
    bes[b]->gather_rows(sb.f(), rows.data(), n, width, gb.f());
    gathered[b] = download(*bes[b], gb.p, static_cast<size_t>(n) * width);
    bes[b]->scatter_add_rows(db.f(), gb.f(), rows.data(), scales.data(), n, width);
    scattered[b] = download(*bes[b], db.p, dst0.size());
  }
  EXPECT_EQ(gathered[0], gathered[1]);
  EXPECT_LT(nmse(scattered[0], scattered[1]), 1e-14);
}

// A KV layer with the same contents on a backend.
struct Cache {
  KvLayer kv;
  std::unique_ptr<Buf> k, v;
  Cache(Backend& be, DType type, int n_seq, int n_ctx, int kv_dim, const std::vector<float>& kh,
        const std::vector<float>& vh) {
    const size_t n = static_cast<size_t>(n_seq) * n_ctx * kv_dim;
    kv.type = type;
    kv.n_ctx = n_ctx;
    kv.kv_dim = kv_dim;
    auto make = [&](const std::vector<float>& src) {
      if (type == DType::F32) return std::make_unique<Buf>(be, src.data(), n * 4);
      std::vector<uint16_t> h(n);
      for (size_t i = 0; i < n; ++i) h[i] = f32_to_fp16(src[i]);
      return std::make_unique<Buf>(be, h.data(), n * 2);
    };
    k = make(kh);
    v = make(vh);
    kv.k = k->p;
    kv.v = v->p;
  }
  std::vector<float> read(Backend& be, bool keys) const {
    const size_t n = static_cast<size_t>(kv.n_ctx) * 2 * kv.kv_dim;
    std::vector<float> out(n);
    const void* p = keys ? kv.k : kv.v;
    if (kv.type == DType::F32) {
      be.to_host(out.data(), p, n * 4);
    } else {
      std::vector<uint16_t> h(n);
      be.to_host(h.data(), p, n * 2);
      for (size_t i = 0; i < n; ++i) out[i] = fp16_to_f32(h[i]);
    }
    return out;
  }
};

TEST_F(CudaOps, KvStore) {
  const int n_ctx = 64, kv_dim = 96, n_tokens = 5;
  const std::vector<int32_t> pos = {0, 7, 63, 1, 2}, seq = {0, 1, 1, 0, 1};
  const std::vector<float> zeros(2 * n_ctx * kv_dim, 0.0f), k = random_normal(n_tokens * kv_dim, 1),
                           v = random_normal(n_tokens * kv_dim, 2);
  for (DType type : {DType::F16, DType::F32}) {
    Backend* bes[2] = {cpu_.get(), gpu_.get()};
    std::vector<float> kc[2], vc[2];
    for (int b = 0; b < 2; ++b) {
      Cache c(*bes[b], type, 2, n_ctx, kv_dim, zeros, zeros);
      Buf kb(*bes[b], k.data(), k.size() * 4), vb(*bes[b], v.data(), v.size() * 4);
      bes[b]->set_batch(pos.data(), seq.data(), n_tokens);
      bes[b]->kv_store(kb.f(), vb.f(), c.kv, n_tokens);
      kc[b] = c.read(*bes[b], true);
      vc[b] = c.read(*bes[b], false);
    }
    EXPECT_EQ(kc[0], kc[1]) << dtype_name(type);
    EXPECT_EQ(vc[0], vc[1]) << dtype_name(type);
  }
}

struct AttnCase {
  int n_head, n_head_kv, head_dim;
  std::vector<int32_t> pos, seq;
};

TEST_F(CudaOps, Attention) {
  const int n_ctx = 4096;
  std::vector<int32_t> prompt_pos(64), prompt_seq(64, 0);
  for (int i = 0; i < 64; ++i) prompt_pos[i] = 100 + i;
  const std::vector<AttnCase> cases = {
      {8, 2, 64, {3000}, {1}},                                // decode, long context, GQA
      {32, 8, 128, {4095}, {0}},                              // decode at the end of the cache
      {4, 4, 80, {0, 1, 2, 900, 17, 2000, 5}, {0, 0, 0, 1, 1, 1, 0}},  // mixed batch, two sequences
      {8, 1, 256, {10, 11, 12}, {1, 1, 1}},                   // wide heads, MQA
      {16, 4, 128, prompt_pos, prompt_seq},                   // prompt batch
      {2, 2, 96, {0}, {0}},                                   // a single key
  };
  // Plain, a sliding window (shorter than some contexts, longer than others), soft-capped scores.
  const std::pair<int, float> variants[] = {{0, 0.0f}, {512, 0.0f}, {0, 2.0f}, {7, 3.0f}};
  for (DType type : {DType::F16, DType::F32})
    for (const AttnCase& ac : cases)
    for (const auto& [window, softcap] : variants) {
      const int n_tokens = static_cast<int>(ac.pos.size()), kv_dim = ac.n_head_kv * ac.head_dim;
      const std::vector<float> kh = random_normal(size_t{2} * n_ctx * kv_dim, 1),
                               vh = random_normal(size_t{2} * n_ctx * kv_dim, 2),
                               q = random_normal(static_cast<size_t>(n_tokens) * ac.n_head * ac.head_dim, 3, 0.3f);
      AttentionParams p{ac.n_head, ac.n_head_kv, ac.head_dim, 1.0f / std::sqrt(static_cast<float>(ac.head_dim))};
      p.window = window;
      p.softcap = softcap;
      std::vector<float> out[2];
      Backend* bes[2] = {cpu_.get(), gpu_.get()};
      for (int b = 0; b < 2; ++b) {
        Cache c(*bes[b], type, 2, n_ctx, kv_dim, kh, vh);
        Buf qb(*bes[b], q.data(), q.size() * 4), ob(*bes[b], q.size() * 4);
        bes[b]->set_batch(ac.pos.data(), ac.seq.data(), n_tokens);
        bes[b]->attention(qb.f(), c.kv, n_tokens, ob.f(), p);
        out[b] = download(*bes[b], ob.p, q.size());
      }
      EXPECT_LT(nmse(out[0], out[1]), 1e-8)
          << dtype_name(type) << " heads " << ac.n_head << "/" << ac.n_head_kv << " hd " << ac.head_dim
          << " n_tokens " << n_tokens << " window " << window << " softcap " << softcap;
    }
}

// Not a test: the bandwidth of the decode matmul on large matrices, and prompt GEMM throughput.
// Run with --gtest_also_run_disabled_tests --gtest_filter='*Bandwidth*'.
TEST_F(CudaOps, DISABLED_MatvecBandwidth) {
  struct Shape {
    int64_t rows, cols;
  };
  for (DType t : {DType::Q4_0, DType::Q8_0, DType::Q4_K, DType::Q6_K, DType::Q5_K, DType::Q2_K, DType::F16})
    for (Shape s : {Shape{14336, 4096}, Shape{4096, 14336}}) {
      // One quantized row repeated: speed does not depend on the values.
      std::vector<float> row = random_normal(s.cols, 1);
      const size_t rb = row_bytes(t, s.cols), bytes = rb * s.rows;
      std::vector<uint8_t> one(rb), host(bytes);
      quantize_row_ref(t, row.data(), one.data(), s.cols);
      for (int64_t r = 0; r < s.rows; ++r) std::copy(one.begin(), one.end(), host.begin() + r * rb);
      // Enough copies that the weights do not stay in the 50 MB L2.
      const int copies = static_cast<int>(std::max<size_t>(2, (400u << 20) / bytes));
      std::vector<std::unique_ptr<Buf>> ws;
      for (int i = 0; i < copies; ++i) ws.push_back(std::make_unique<Buf>(*gpu_, host.data(), bytes));
      std::vector<float> x = random_normal(512 * s.cols, 2);
      Buf xb(*gpu_, x.data(), x.size() * 4), yb(*gpu_, 512 * s.rows * 4);
      for (int n_tokens : {1, 2, 4, 8, 512}) {
        Weight w;
        w.type = t;
        w.ne[0] = s.cols;
        w.ne[1] = s.rows;
        w.nbytes = bytes;
        const int iters = n_tokens == 512 ? 10 : 100;
        for (int i = 0; i < 3; ++i) {
          w.data = ws[i % copies]->p;
          gpu_->matmul(w, xb.f(), yb.f(), n_tokens);
        }
        gpu_->synchronize();
        const auto t0 = std::chrono::steady_clock::now();
        for (int i = 0; i < iters; ++i) {
          w.data = ws[i % copies]->p;
          gpu_->matmul(w, xb.f(), yb.f(), n_tokens);
        }
        gpu_->synchronize();
        const double sec = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() / iters;
        if (n_tokens == 512)
          std::printf("%-5s %6ldx%-6ld n=%-3d %8.1f us  %7.1f TFLOP/s\n", std::string(dtype_name(t)).c_str(),
                      static_cast<long>(s.rows), static_cast<long>(s.cols), n_tokens, sec * 1e6,
                      2.0 * s.rows * s.cols * n_tokens / sec / 1e12);
        else
          std::printf("%-5s %6ldx%-6ld n=%-3d %8.1f us  %7.1f GB/s\n", std::string(dtype_name(t)).c_str(),
                      static_cast<long>(s.rows), static_cast<long>(s.cols), n_tokens, sec * 1e6, bytes / sec / 1e9);
      }
    }
  // Decode attention at long contexts (Llama-3-8B heads).
  for (int n_keys : {512, 4096, 16384}) {
    const int n_ctx = 16384, kv_dim = 8 * 128;
    std::vector<uint16_t> zeros(static_cast<size_t>(n_ctx) * kv_dim, 0);
    Buf k(*gpu_, zeros.data(), zeros.size() * 2), v(*gpu_, zeros.data(), zeros.size() * 2);
    KvLayer kv{k.p, v.p, DType::F16, n_ctx, kv_dim};
    std::vector<float> q = random_normal(32 * 128, 1);
    Buf qb(*gpu_, q.data(), q.size() * 4), ob(*gpu_, q.size() * 4);
    const int32_t pos = n_keys - 1, seq = 0;
    gpu_->set_batch(&pos, &seq, 1);
    AttentionParams p{32, 8, 128, 0.088f};
    gpu_->attention(qb.f(), kv, 1, ob.f(), p);
    gpu_->synchronize();
    const auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < 100; ++i) gpu_->attention(qb.f(), kv, 1, ob.f(), p);
    gpu_->synchronize();
    const double sec = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() / 100;
    std::printf("attention decode %5d keys %8.1f us  %7.1f GB/s of KV\n", n_keys, sec * 1e6,
                2.0 * n_keys * kv_dim * 2 / sec / 1e9);
  }
}

}  // namespace
}  // namespace hearth

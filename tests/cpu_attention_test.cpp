// CPU attention (the AVX2/F16C row kernel and the reference path) against a double-precision softmax
// attention computed from the same cache values: GQA, several sequences, causal positions, head sizes with
// and without a register-resident specialisation.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "backend/cpu/attention.h"
#include "backend/cpu/thread_pool.h"
#include "quant/fp16.h"

namespace hearth::cpu {
namespace {

struct Case {
  int head_dim;
  DType cache;
};

class CpuAttention : public ::testing::TestWithParam<Case> {};

TEST_P(CpuAttention, MatchesDoublePrecisionReference) {
  const auto [hd, type] = GetParam();
  const int n_head = 8, n_head_kv = 2, n_ctx = 300, n_seq = 2, kv_dim = n_head_kv * hd;
  const size_t es = type == DType::F16 ? 2 : 4;
  std::mt19937 rng(hd);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  std::vector<uint8_t> kbuf(size_t(n_seq) * n_ctx * kv_dim * es), vbuf(kbuf.size());
  KvLayer kv{kbuf.data(), vbuf.data(), type, n_ctx, kv_dim};
  // Fill the whole cache through kv_store (one token per position) so that the test reads what it stored.
  std::vector<float> krow(kv_dim), vrow(kv_dim);
  std::vector<double> kval(kbuf.size() / es), vval(kval.size());
  for (int s = 0; s < n_seq; ++s)
    for (int p = 0; p < n_ctx; ++p) {
      for (int i = 0; i < kv_dim; ++i) krow[i] = 2.0f * nd(rng), vrow[i] = nd(rng);
      kv_store(krow.data(), vrow.data(), kv, 1, &p, &s);
      for (int i = 0; i < kv_dim; ++i) {
        const size_t at = (size_t(s) * n_ctx + p) * kv_dim + i;
        kval[at] = type == DType::F16 ? fp16_to_f32(f32_to_fp16(krow[i])) : krow[i];
        vval[at] = type == DType::F16 ? fp16_to_f32(f32_to_fp16(vrow[i])) : vrow[i];
      }
    }
  // Queries: a prompt-like run in sequence 0 and scattered positions (1 key, long context) in sequence 1.
  std::vector<int32_t> pos, seq;
  for (int p = 0; p < 37; ++p) pos.push_back(p), seq.push_back(0);
  for (int p : {0, 1, 7, 8, 9, 150, 299}) pos.push_back(p), seq.push_back(1);
  const int n_tokens = static_cast<int>(pos.size());
  std::vector<float> q(size_t(n_tokens) * n_head * hd), out(q.size());
  for (auto& x : q) x = nd(rng);
  // Plain causal attention; a sliding window (Gemma 2/3's local layers); soft-capped scores (Gemma 2); both.
  const std::pair<int, float> variants[] = {{0, 0.0f}, {8, 0.0f}, {0, 1.5f}, {5, 2.0f}};
  for (const auto& [window, softcap] : variants)
  for (int threads : {1, 2}) {
    AttentionParams ap{n_head, n_head_kv, hd, 1.0f / std::sqrt(float(hd))};
    ap.window = window;
    ap.softcap = softcap;
    ThreadPool pool(threads);
    attention(q.data(), kv, n_tokens, pos.data(), seq.data(), out.data(), ap, pool);
    for (int t = 0; t < n_tokens; ++t)
      for (int h = 0; h < n_head; ++h) {
        const double* kb = kval.data() + size_t(seq[t]) * n_ctx * kv_dim + (h / (n_head / n_head_kv)) * hd;
        const double* vb = vval.data() + (kb - kval.data());
        const float* qh = q.data() + (size_t(t) * n_head + h) * hd;
        const int first = window > 0 ? std::max(0, pos[t] + 1 - window) : 0;
        std::vector<double> w(pos[t] + 1, 0.0);
        double mx = -1e300, sum = 0;
        for (int j = first; j <= pos[t]; ++j) {
          double d = 0;
          for (int i = 0; i < hd; ++i) d += double(qh[i]) * kb[size_t(j) * kv_dim + i];
          w[j] = d * ap.scale;
          if (softcap > 0) w[j] = softcap * std::tanh(w[j] / softcap);
          mx = std::max(mx, w[j]);
        }
        for (int j = first; j <= pos[t]; ++j) sum += (w[j] = std::exp(w[j] - mx));
        for (int i = 0; i < hd; ++i) {
          double want = 0;
          for (int j = first; j <= pos[t]; ++j) want += w[j] / sum * vb[size_t(j) * kv_dim + i];
          ASSERT_NEAR(out[(size_t(t) * n_head + h) * hd + i], want, 2e-5 * (1 + std::fabs(want)))
              << "token " << t << " head " << h << " dim " << i << " threads " << threads << " window " << window
              << " softcap " << softcap;
        }
      }
  }
}

INSTANTIATE_TEST_SUITE_P(Shapes, CpuAttention,
                         ::testing::Values(Case{64, DType::F16}, Case{128, DType::F16}, Case{40, DType::F16},
                                           Case{20, DType::F16}, Case{64, DType::F32}),
                         [](const auto& info) {
                           return "hd" + std::to_string(info.param.head_dim) +
                                  (info.param.cache == DType::F16 ? "_f16" : "_f32");
                         });

// The softmax weights themselves (V rows are one-hot, so out[j] = weight of key j), for scores spread from 0 to
// about -100: the SIMD exp must be as accurate as expf (relative 1e-6) and flush to 0 far below the maximum.
TEST(CpuAttention, SoftmaxWeightsAreExact) {
  if (!cpu_has_avx2_f16c()) GTEST_SKIP() << "no AVX2/F16C";
  const int hd = 64, n = 60;
  std::vector<float> q(hd, 0.0f);
  q[0] = 1.0f;
  std::vector<uint16_t> k(size_t(n) * hd, 0), v(k.size(), 0);
  std::vector<double> score(n);
  for (int j = 0; j < n; ++j) {
    k[size_t(j) * hd] = f32_to_fp16(-1.7f * j + 0.37f * (j % 3));
    score[j] = fp16_to_f32(k[size_t(j) * hd]);
    v[size_t(j) * hd + j] = f32_to_fp16(1.0f);
  }
  double mx = -1e300, sum = 0;
  for (double x : score) mx = std::max(mx, x);
  for (double x : score) sum += std::exp(x - mx);
  std::vector<float> fast(hd), ref(hd), scratch;
  attend_f16_avx2(q.data(), k.data(), v.data(), hd, n, hd, 1.0f, 0.0f, fast.data(), scratch);
  attend_ref(q.data(), k.data(), v.data(), DType::F16, hd, n, hd, 1.0f, 0.0f, ref.data(), scratch);
  for (int j = 0; j < n; ++j) {
    const double want = std::exp(score[j] - mx) / sum;
    EXPECT_NEAR(fast[j], want, 1e-6 * want + 1e-37) << "key " << j;
    EXPECT_NEAR(ref[j], want, 1e-6 * want + 1e-37) << "key " << j;
  }
}

}  // namespace
}  // namespace hearth::cpu

// The scalar references of the other architectures' ops (src/backend/cpu/layer_ops.h) against the definitions
// computed in double precision, and the CPU backend's ops against the references.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "backend/backend.h"
#include "backend/cpu/activation.h"
#include "backend/cpu/attention.h"
#include "backend/cpu/layer_ops.h"
#include "test_util.h"

namespace hearth {
namespace {

using test::random_normal;

double gelu_tanh(double x) { return 0.5 * x * (1.0 + std::tanh(std::sqrt(2.0 / M_PI) * (x + 0.044715 * x * x * x))); }

TEST(LayerOps, LayerNormMatchesTheDefinition) {
  const int n_rows = 3, dim = 333;
  std::vector<float> x = random_normal(n_rows * dim, 1, 2.0f), w = random_normal(dim, 2), b = random_normal(dim, 3);
  for (float& v : x) v += 5.0f;  // a mean far from zero, where a one-pass variance would lose digits
  std::vector<float> y(x.size()), y_nobias(x.size());
  cpu::layer_norm_ref(x.data(), w.data(), b.data(), y.data(), n_rows, dim, 1e-5f);
  cpu::layer_norm_ref(x.data(), w.data(), nullptr, y_nobias.data(), n_rows, dim, 1e-5f);
  for (int r = 0; r < n_rows; ++r) {
    double mean = 0, var = 0;
    for (int i = 0; i < dim; ++i) mean += x[r * dim + i];
    mean /= dim;
    for (int i = 0; i < dim; ++i) var += (x[r * dim + i] - mean) * (x[r * dim + i] - mean);
    var /= dim;
    for (int i = 0; i < dim; ++i) {
      const double norm = (x[r * dim + i] - mean) / std::sqrt(var + 1e-5);
      EXPECT_NEAR(y[r * dim + i], norm * w[i] + b[i], 1e-5) << r << "," << i;
      EXPECT_NEAR(y_nobias[r * dim + i], norm * w[i], 1e-5) << r << "," << i;
    }
  }
}

TEST(LayerOps, GeluAndGegluMatchTheTanhFormula) {
  std::vector<float> x = {0.0f, 1.0f, -1.0f, 3.0f, -3.0f, 10.0f, -10.0f, 50.0f, -50.0f};
  std::vector<float> r = random_normal(1001, 4, 3.0f);
  x.insert(x.end(), r.begin(), r.end());
  std::vector<float> up = random_normal(x.size(), 5), out(x.size()), gated(x.size());
  cpu::gelu_ref(x.data(), out.data(), x.size());
  cpu::geglu_ref(x.data(), up.data(), gated.data(), x.size());
  for (size_t i = 0; i < x.size(); ++i) {
    EXPECT_NEAR(out[i], gelu_tanh(x[i]), 1e-6 * (1 + std::fabs(x[i]))) << x[i];
    EXPECT_NEAR(gated[i], gelu_tanh(x[i]) * up[i], 1e-6 * (1 + std::fabs(x[i] * up[i]))) << x[i];
  }
  // GELU's known values: gelu(1) = 0.8412 (tanh form), large inputs pass through, large negative ones vanish.
  EXPECT_NEAR(out[1], 0.841192, 1e-6);
  EXPECT_FLOAT_EQ(out[7], 50.0f);
  EXPECT_FLOAT_EQ(out[8], 0.0f);
  // The AVX2 version (x * sigmoid(2z), the same function) to float precision, the tail included (1010 values).
  if (!cpu::cpu_has_avx2_f16c()) GTEST_SKIP() << "no AVX2/FMA here";
  cpu::geglu_avx2(x.data(), nullptr, out.data(), x.size());
  cpu::geglu_avx2(x.data(), up.data(), gated.data(), x.size());
  for (size_t i = 0; i < x.size(); ++i) {
    const double g = gelu_tanh(x[i]);
    EXPECT_NEAR(out[i], g, 2e-6 * std::fabs(g) + 1e-7) << x[i];
    EXPECT_NEAR(gated[i], g * up[i], 2e-6 * std::fabs(g * up[i]) + 1e-7) << x[i];
  }
}

TEST(LayerOps, CpuBackendRunsTheReferences) {
  auto cpu = make_cpu_backend(2);
  const int n_rows = 4, dim = 64;
  std::vector<float> x = random_normal(n_rows * dim, 1), w = random_normal(dim, 2), b = random_normal(dim, 3);
  Weight wt, bt;
  wt.ne[0] = bt.ne[0] = dim;
  wt.data = w.data();
  bt.data = b.data();
  std::vector<float> got(x.size()), want(x.size());
  cpu->layer_norm(x.data(), wt, bt, got.data(), n_rows, dim, 1e-6f);
  cpu::layer_norm_ref(x.data(), w.data(), b.data(), want.data(), n_rows, dim, 1e-6f);
  EXPECT_EQ(got, want);
  // Over 32768 values the backend splits the work across its threads.
  const size_t n = 70001;
  std::vector<float> g = random_normal(n, 4, 3.0f), u = random_normal(n, 5);
  std::vector<float> o(n), ref(n);
  // The reference's own error: 1 + tanh(z) cancels for negative inputs (the AVX2 sigmoid form does not).
  auto expect_close = [](const std::vector<float>& got, const std::vector<float>& want) {
    for (size_t i = 0; i < got.size(); ++i) ASSERT_NEAR(got[i], want[i], 2e-6 * std::fabs(want[i]) + 2e-6) << i;
  };
  cpu->gelu(g.data(), o.data(), n);
  cpu::gelu_ref(g.data(), ref.data(), n);
  expect_close(o, ref);
  cpu->geglu(g.data(), u.data(), o.data(), n);
  cpu::geglu_ref(g.data(), u.data(), ref.data(), n);
  expect_close(o, ref);
  std::vector<float> rows = x;
  cpu->add_bias(rows.data(), bt, n_rows);
  for (int r = 0; r < n_rows; ++r)
    for (int i = 0; i < dim; ++i) EXPECT_EQ(rows[r * dim + i], x[r * dim + i] + b[i]);
  std::vector<float> s = g;
  cpu->scale(s.data(), -0.5f, n);
  for (size_t i = 0; i < n; i += 997) EXPECT_EQ(s[i], g[i] * -0.5f);
}

}  // namespace
}  // namespace hearth

namespace hearth {
namespace {

TEST(LayerOps, GatherAndScatterAddRows) {
  const int width = 3;
  const std::vector<float> src = {0, 1, 2, 10, 11, 12, 20, 21, 22, 30, 31, 32};  // 4 rows
  const std::vector<int32_t> rows = {3, 1};
  std::vector<float> got(2 * width);
  cpu::gather_rows_ref(src.data(), rows.data(), 2, width, got.data());
  EXPECT_EQ(got, (std::vector<float>{30, 31, 32, 10, 11, 12}));
  std::vector<float> dst(4 * width, 1.0f);
  const std::vector<float> scales = {0.5f, 2.0f};
  cpu::scatter_add_rows_ref(dst.data(), got.data(), rows.data(), scales.data(), 2, width);
  EXPECT_EQ(dst, (std::vector<float>{1, 1, 1, 21, 23, 25, 1, 1, 1, 16, 16.5f, 17}));
}

}  // namespace
}  // namespace hearth

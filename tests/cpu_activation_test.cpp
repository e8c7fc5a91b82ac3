// SwiGLU: the AVX2 version and the reference against silu computed in double precision.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "backend/cpu/activation.h"
#include "backend/cpu/attention.h"

namespace {

using namespace hearth::cpu;

double silu_mul(double g, double u) { return g / (1.0 + std::exp(-g)) * u; }

void expect_matches(void (*fn)(const float*, const float*, float*, size_t), const std::vector<float>& g,
                    const std::vector<float>& u) {
  std::vector<float> out(g.size(), NAN);
  fn(g.data(), u.data(), out.data(), g.size());
  for (size_t i = 0; i < g.size(); ++i) {
    const double want = silu_mul(g[i], u[i]);
    EXPECT_NEAR(out[i], want, 2e-6 * std::fabs(want) + 1e-30) << "gate " << g[i] << " up " << u[i] << " at " << i;
  }
}

TEST(Swiglu, MatchesDoublePrecisionOverTheWholeRange) {
  std::vector<float> g, u;
  // Every sign and magnitude the exponent path handles, past where e^-x overflows a float and past -87.
  for (float x : {0.0f, -0.0f, 1e-30f, -1e-30f, 1e-3f, -1e-3f, 0.5f, -0.5f, 1.0f, -1.0f, 10.0f, -10.0f, 30.0f, -30.0f,
                  86.0f, -86.0f, 88.5f, -88.5f, 100.0f, -100.0f, 1e4f, -1e4f})
    g.push_back(x), u.push_back(1.5f);
  std::mt19937 rng(7);
  std::normal_distribution<float> d(0.0f, 4.0f);
  for (int i = 0; i < 1003; ++i) g.push_back(d(rng)), u.push_back(d(rng));  // a length that leaves a tail
  expect_matches(swiglu_ref, g, u);
  if (!cpu_has_avx2_f16c()) GTEST_SKIP() << "no AVX2/FMA here";
  expect_matches(swiglu_avx2, g, u);
  expect_matches(swiglu, g, u);
}

}  // namespace

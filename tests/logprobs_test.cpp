// Log-probabilities for OpenAI's logprobs: log-softmax against a direct double-precision computation, the
// whole distribution summing to 1, and the top-N selection.
#include "runtime/logprobs.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>

namespace hearth {
namespace {

std::vector<float> random_logits(int n, uint32_t seed, float scale) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> d(0.0f, scale);
  std::vector<float> v(n);
  for (float& x : v) x = d(rng);
  return v;
}

TEST(Logprobs, LogSoftmaxMatchesTheDefinitionAndSumsToOne) {
  for (float scale : {0.5f, 4.0f, 30.0f}) {
    const std::vector<float> logits = random_logits(32000, 7, scale);
    std::vector<float> lp(logits.size());
    log_softmax(logits.data(), static_cast<int>(logits.size()), lp.data());
    double z = 0;
    for (float x : logits) z += std::exp(static_cast<double>(x));
    double total = 0;
    for (size_t i = 0; i < logits.size(); ++i) {
      const double want = static_cast<double>(logits[i]) - std::log(z);
      ASSERT_NEAR(lp[i], want, 1e-4 * std::max(1.0, std::fabs(want))) << i;
      ASSERT_LE(lp[i], 0.0f);
      total += std::exp(static_cast<double>(lp[i]));
    }
    EXPECT_NEAR(total, 1.0, 1e-5) << "scale " << scale;
  }
}

TEST(Logprobs, LargeLogitsDoNotOverflow) {
  std::vector<float> logits = {1000.0f, 999.0f, -std::numeric_limits<float>::infinity()};
  std::vector<float> lp(3);
  log_softmax(logits.data(), 3, lp.data());
  const double want0 = -std::log1p(std::exp(-1.0));
  EXPECT_NEAR(lp[0], want0, 1e-4);  // float near 1000: ~6e-5 apart
  EXPECT_NEAR(lp[1], want0 - 1.0, 1e-4);
  EXPECT_TRUE(std::isinf(lp[2]) && lp[2] < 0);
}

TEST(Logprobs, TopTokensAreSortedAndIncludeTheArgmax) {
  const std::vector<float> logits = random_logits(1000, 3, 3.0f);
  std::vector<float> work;
  const int argmax = static_cast<int>(std::max_element(logits.begin(), logits.end()) - logits.begin());
  TokenLogprob t = token_logprob(logits.data(), 1000, argmax, 20, work);
  ASSERT_EQ(t.top.size(), 20u);
  EXPECT_EQ(t.top[0].first, argmax);
  EXPECT_FLOAT_EQ(t.top[0].second, t.logprob);
  for (size_t k = 1; k < t.top.size(); ++k) EXPECT_GE(t.top[k - 1].second, t.top[k].second);
  // Every token outside the top is no more likely than the last one in it.
  for (int i = 0; i < 1000; ++i) {
    bool in_top = false;
    for (auto& [id, lp] : t.top) in_top = in_top || id == i;
    if (!in_top) {
      EXPECT_LE(work[i], t.top.back().second);
    }
  }
  // Ties: lowest id first; top_n beyond the vocabulary is clamped; 0 gives only the chosen token.
  const std::vector<float> flat = {1.0f, 2.0f, 2.0f, 0.0f};
  t = token_logprob(flat.data(), 4, 0, 10, work);
  ASSERT_EQ(t.top.size(), 4u);
  EXPECT_EQ(t.top[0].first, 1);
  EXPECT_EQ(t.top[1].first, 2);
  EXPECT_LT(t.logprob, t.top[1].second);
  EXPECT_TRUE(token_logprob(flat.data(), 4, 3, 0, work).top.empty());
}

}  // namespace
}  // namespace hearth

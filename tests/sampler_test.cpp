// Sampler chain against hand-computed distributions (llama.cpp's semantics for every step).
#include "hearth/sampler.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <numeric>
#include <random>
#include <vector>

#include "hearth/error.h"
#include "sampling/candidates.h"
#include "sampling/steps.h"

namespace hearth {
namespace {

// Temperature 1 and every filter off: the distribution is softmax(logits) after penalties.
SamplerParams plain() {
  SamplerParams p;
  p.temperature = 1.0f;
  p.top_k = 0;
  p.top_p = 1.0f;
  p.min_p = 0.0f;
  p.seed = 42;
  return p;
}

// Logits whose softmax is exactly probs (up to rounding).
std::vector<float> logits_of(const std::vector<double>& probs) {
  std::vector<float> l;
  for (double p : probs) l.push_back(static_cast<float>(std::log(p)));
  return l;
}

std::map<int32_t, float> dist(Sampler& s, const std::vector<float>& logits) {
  std::map<int32_t, float> m;
  for (const TokenProb& t : s.distribution(logits.data(), static_cast<int32_t>(logits.size()))) m[t.id] = t.p;
  return m;
}

void expect_dist(const std::map<int32_t, float>& got, const std::map<int32_t, double>& want) {
  ASSERT_EQ(got.size(), want.size());
  for (const auto& [id, p] : want) {
    ASSERT_TRUE(got.count(id)) << "token " << id << " missing";
    EXPECT_NEAR(got.at(id), p, 1e-6) << "token " << id;
  }
}

const std::vector<double> kProbs = {0.5, 0.3, 0.15, 0.05};

TEST(Sampler, TopKTwoGivesExactProbabilities) {
  SamplerParams p = plain();
  p.top_k = 2;
  Sampler s(p);
  // Kept: logits 3 and 2; p = e^3 / (e^3 + e^2) = 1 / (1 + e^-1).
  const double p1 = 1.0 / (1.0 + std::exp(-1.0));
  expect_dist(dist(s, {1.0f, 3.0f, 2.0f, 0.0f}), {{1, p1}, {2, 1.0 - p1}});
}

TEST(Sampler, TopPCutsAtTheSmallestPrefixReachingP) {
  SamplerParams p = plain();
  p.top_p = 0.7f;  // cumulative 0.5, 0.8: two tokens
  Sampler s(p);
  expect_dist(dist(s, logits_of(kProbs)), {{0, 0.625}, {1, 0.375}});

  p.top_p = 0.85f;  // 0.5, 0.8, 0.95: three
  Sampler s3(p);
  expect_dist(dist(s3, logits_of(kProbs)), {{0, 0.5 / 0.95}, {1, 0.3 / 0.95}, {2, 0.15 / 0.95}});

  p.top_p = 0.1f;  // the first token alone already reaches p
  Sampler s1(p);
  expect_dist(dist(s1, logits_of(kProbs)), {{0, 1.0}});
}

TEST(Sampler, TopPRenormalizesAfterTopK) {
  // After top-k 3: 0.5/0.95 = 0.526, +0.3/0.95 = 0.842 >= 0.83, so two tokens; without top-k
  // the cumulative sums are 0.5, 0.8, 0.95 and three would stay.
  SamplerParams p = plain();
  p.top_k = 3;
  p.top_p = 0.83f;
  Sampler s(p);
  expect_dist(dist(s, logits_of(kProbs)), {{0, 0.625}, {1, 0.375}});
  p.top_k = 0;
  Sampler s2(p);
  EXPECT_EQ(dist(s2, logits_of(kProbs)).size(), 3u);
}

TEST(Sampler, MinPKeepsTokensAboveAFractionOfTheBest) {
  SamplerParams p = plain();
  p.min_p = 0.2f;  // threshold 0.1: 0.05 goes
  Sampler s(p);
  expect_dist(dist(s, logits_of(kProbs)), {{0, 0.5 / 0.95}, {1, 0.3 / 0.95}, {2, 0.15 / 0.95}});
  p.min_p = 0.35f;  // threshold 0.175: 0.15 goes too
  Sampler s2(p);
  expect_dist(dist(s2, logits_of(kProbs)), {{0, 0.625}, {1, 0.375}});
  p.min_p = 0.99f;  // only the best
  Sampler s3(p);
  expect_dist(dist(s3, logits_of(kProbs)), {{0, 1.0}});
}

TEST(Sampler, TemperatureScalesLogits) {
  SamplerParams p = plain();
  p.temperature = 0.5f;  // logits 1, 2 become 2, 4
  Sampler s(p);
  const double p1 = 1.0 / (1.0 + std::exp(-2.0));
  expect_dist(dist(s, {1.0f, 2.0f}), {{0, 1.0 - p1}, {1, p1}});
}

TEST(Sampler, PenaltiesArithmetic) {
  SamplerParams p = plain();
  p.repeat_penalty = 2.0f;
  p.frequency_penalty = 0.1f;
  p.presence_penalty = 0.5f;
  Sampler s(p);
  for (int32_t t : {0, 1, 0, 3}) s.accept(t);
  // token 0, seen twice, logit 2 > 0:  2 / 2 - (2 * 0.1 + 0.5) = 0.3
  // token 1, seen once, logit -1 <= 0: -1 * 2 - (0.1 + 0.5)  = -2.6
  // token 2, never seen:                                        0.5
  // token 3, seen once, logit 3:       3 / 2 - 0.6             = 0.9
  const std::vector<double> want_logits = {0.3, -2.6, 0.5, 0.9};
  double sum = 0;
  for (double l : want_logits) sum += std::exp(l);
  std::map<int32_t, double> want;
  for (int i = 0; i < 4; ++i) want[i] = std::exp(want_logits[i]) / sum;
  expect_dist(dist(s, {2.0f, -1.0f, 0.5f, 3.0f}), want);
}

TEST(Sampler, PenaltyWindowForgetsOldTokens) {
  SamplerParams p = plain();
  p.repeat_penalty = 2.0f;
  p.repeat_last_n = 2;
  Sampler s(p);
  for (int32_t t : {0, 1, 2}) s.accept(t);  // window {1, 2}
  const double e = std::exp(1.0), h = std::exp(0.5);
  // token 0 keeps logit 1, tokens 1 and 2 go to 0.5.
  expect_dist(dist(s, {1.0f, 1.0f, 1.0f}), {{0, e / (e + 2 * h)}, {1, h / (e + 2 * h)}, {2, h / (e + 2 * h)}});

  p.repeat_last_n = 0;  // off
  Sampler off(p);
  for (int32_t t : {0, 1, 2}) off.accept(t);
  expect_dist(dist(off, {1.0f, 1.0f, 1.0f}), {{0, 1 / 3.0}, {1, 1 / 3.0}, {2, 1 / 3.0}});

  p.repeat_last_n = -1;  // everything ever accepted
  Sampler all(p);
  for (int32_t t : {0, 1, 2}) all.accept(t);
  for (int i = 0; i < 100; ++i) all.accept(7);
  expect_dist(dist(all, {1.0f, 1.0f, 1.0f}), {{0, 1 / 3.0}, {1, 1 / 3.0}, {2, 1 / 3.0}});

  s.reset();  // the window is empty again
  expect_dist(dist(s, {1.0f, 1.0f, 1.0f}), {{0, 1 / 3.0}, {1, 1 / 3.0}, {2, 1 / 3.0}});
}

TEST(Sampler, GreedyIsArgmaxAfterPenaltiesWithLowestIdOnTies) {
  SamplerParams p = plain();
  p.temperature = 0.0f;
  p.top_k = 1000;
  Sampler s(p);
  std::vector<float> l = {0.5f, 2.0f, -1.0f, 2.0f};
  EXPECT_EQ(s.sample(l.data(), 4), 1);
  EXPECT_EQ(l[1], 2.0f);  // logits are not modified

  p.repeat_penalty = 1.1f;  // 5 / 1.1 = 4.55 < 4.9
  Sampler pen(p);
  std::vector<float> l2 = {5.0f, 4.9f};
  EXPECT_EQ(pen.sample(l2.data(), 2), 0);
  pen.accept(0);
  EXPECT_EQ(pen.sample(l2.data(), 2), 1);
  expect_dist(dist(pen, l2), {{1, 1.0}});

  p.temperature = -1.0f;
  p.repeat_penalty = 1.0f;
  Sampler neg(p);
  std::vector<float> l3 = {-3.0f, -2.0f, -2.0f};
  EXPECT_EQ(neg.sample(l3.data(), 3), 1);
}

TEST(Sampler, SeededDrawsAreReproducible) {
  SamplerParams p = plain();
  p.seed = 1234;
  Sampler a(p), b(p);
  std::vector<float> l = logits_of({0.25, 0.25, 0.25, 0.25});
  std::vector<int32_t> sa, sb;
  for (int i = 0; i < 200; ++i) {
    sa.push_back(a.sample(l.data(), 4));
    sb.push_back(b.sample(l.data(), 4));
  }
  EXPECT_EQ(sa, sb);
  EXPECT_EQ(a.seed(), 1234u);
  a.reset();
  std::vector<int32_t> again;
  for (int i = 0; i < 200; ++i) again.push_back(a.sample(l.data(), 4));
  EXPECT_EQ(sa, again);

  p.seed = 1235;
  Sampler c(p);
  std::vector<int32_t> sc;
  for (int i = 0; i < 200; ++i) sc.push_back(c.sample(l.data(), 4));
  EXPECT_NE(sa, sc);

  p.seed = 0xFFFFFFFF;  // random: the seed in use is reported, and it replays
  Sampler r(p);
  EXPECT_NE(r.seed(), 0xFFFFFFFFu);
  SamplerParams q = p;
  q.seed = r.seed();
  Sampler replay(q);
  for (int i = 0; i < 50; ++i) EXPECT_EQ(r.sample(l.data(), 4), replay.sample(l.data(), 4));
}

// Pearson chi-square of counts against probabilities.
double chi_square(const std::vector<int>& counts, const std::vector<double>& probs, int n) {
  double x2 = 0;
  for (size_t i = 0; i < probs.size(); ++i) {
    const double e = probs[i] * n;
    x2 += (counts[i] - e) * (counts[i] - e) / e;
  }
  return x2;
}

TEST(Sampler, EmpiricalFrequenciesMatchTheDistribution) {
  const int n = 100000;
  {
    Sampler s(plain());
    std::vector<float> l = logits_of(kProbs);
    std::vector<int> counts(4);
    for (int i = 0; i < n; ++i) ++counts[s.sample(l.data(), 4)];
    // 3 degrees of freedom: P(X2 > 27.9) = 4e-6.
    EXPECT_LT(chi_square(counts, kProbs, n), 27.9);
  }
  {
    // top-k 3 and temperature 2 on the same logits: probabilities ∝ sqrt(p) over the first three.
    SamplerParams p = plain();
    p.top_k = 3;
    p.temperature = 2.0f;
    Sampler s(p);
    std::vector<float> l = logits_of(kProbs);
    std::vector<double> want = {std::sqrt(0.5), std::sqrt(0.3), std::sqrt(0.15)};
    const double z = want[0] + want[1] + want[2];
    for (double& w : want) w /= z;
    std::vector<int> counts(4);
    for (int i = 0; i < n; ++i) ++counts[s.sample(l.data(), 4)];
    EXPECT_EQ(counts[3], 0);
    counts.resize(3);
    EXPECT_LT(chi_square(counts, want, n), 23.5);  // 2 degrees of freedom: P = 8e-6
  }
}

// Plain reference for top-k / top-p / min-p on a large vocabulary: sort everything, cut, softmax.
std::map<int32_t, double> reference(const std::vector<float>& logits, int top_k, float top_p, float min_p) {
  std::vector<int32_t> ids(logits.size());
  std::iota(ids.begin(), ids.end(), 0);
  std::stable_sort(ids.begin(), ids.end(), [&](int32_t a, int32_t b) { return logits[a] > logits[b]; });
  if (top_k > 0 && static_cast<size_t>(top_k) < ids.size()) ids.resize(top_k);
  auto probs = [&] {
    std::vector<double> p;
    double sum = 0;
    for (int32_t id : ids) sum += std::exp(double(logits[id]) - logits[ids[0]]);
    for (int32_t id : ids) p.push_back(std::exp(double(logits[id]) - logits[ids[0]]) / sum);
    return p;
  };
  if (top_p < 1) {
    std::vector<double> p = probs();
    double cum = 0;
    for (size_t i = 0; i < ids.size(); ++i) {
      cum += p[i];
      if (cum >= top_p) {
        ids.resize(i + 1);
        break;
      }
    }
  }
  if (min_p > 0) {
    std::vector<double> p = probs();
    size_t keep = 1;
    while (keep < ids.size() && p[keep] >= min_p * p[0]) ++keep;
    ids.resize(keep);
  }
  std::vector<double> p = probs();
  std::map<int32_t, double> m;
  for (size_t i = 0; i < ids.size(); ++i) m[ids[i]] = p[i];
  return m;
}

TEST(Sampler, LargeVocabularyMatchesAFullSortReference) {
  const int n_vocab = 128256;
  std::mt19937 gen(7);
  std::normal_distribution<float> nd(0.0f, 3.0f);
  std::vector<float> logits(n_vocab);
  for (float& l : logits) l = nd(gen);
  struct Case {
    int k;
    float p, min_p;
  };
  for (Case c : {Case{40, 0.95f, 0.05f}, Case{0, 0.9f, 0.0f}, Case{0, 0.5f, 0.0f}, Case{0, 1.0f, 0.01f},
                 Case{1000, 0.99f, 0.0f}, Case{0, 0.999f, 0.0f}}) {
    SamplerParams p = plain();
    p.top_k = c.k;
    p.top_p = c.p;
    p.min_p = c.min_p;
    Sampler s(p);
    auto got = dist(s, logits);
    auto want = reference(logits, c.k, c.p, c.min_p);
    ASSERT_EQ(got.size(), want.size()) << "k=" << c.k << " p=" << c.p << " min_p=" << c.min_p;
    for (const auto& [id, pr] : want) {
      ASSERT_TRUE(got.count(id));
      EXPECT_NEAR(got[id], pr, 1e-5);
    }
  }
}

TEST(Sampler, LogitBiasAndBannedTokens) {
  SamplerParams p = plain();
  p.logit_bias = {{0, -std::numeric_limits<float>::infinity()}, {2, std::log(3.0f)}};
  Sampler s(p);
  // Token 0 banned; token 2 three times as likely as token 1.
  expect_dist(dist(s, {5.0f, 0.0f, 0.0f}), {{1, 0.25}, {2, 0.75}});

  p.temperature = 0;
  Sampler g(p);
  std::vector<float> l = {5.0f, 0.0f, 0.0f};
  EXPECT_EQ(g.sample(l.data(), 3), 2);

  Sampler all(plain());
  const float ninf = -std::numeric_limits<float>::infinity();
  std::vector<float> banned = {ninf, ninf};
  EXPECT_THROW(all.sample(banned.data(), 2), Error);
  EXPECT_THROW(all.sample(banned.data(), 0), Error);
}

TEST(Sampler, NaNLogitsAreNeverChosen) {
  Sampler s(plain());
  std::vector<float> l = {std::nanf(""), 0.0f, std::nanf("")};
  for (int i = 0; i < 20; ++i) EXPECT_EQ(s.sample(l.data(), 3), 1);
}

TEST(SamplerSteps, TopPSortsOnlyAsFarAsTheCut) {
  // One dominant token among many: the nucleus is found after sorting a short prefix.
  std::vector<float> logits(100000, 0.0f);
  logits[777] = 30.0f;
  sampling::Candidates c;
  c.assign(logits.data(), static_cast<int32_t>(logits.size()));
  sampling::TopP(0.9f).apply(c);
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(c.data[0].id, 777);
  EXPECT_TRUE(c.sorted);
}

// Issue 15: parameters no sampler can work with are refused when the sampler is made, by name, instead of
// producing NaN logits (a NaN temperature made the model write only spaces).
TEST(SamplerHardening, NonFiniteOrZeroParametersAreRefusedByName) {
  auto refused = [](SamplerParams p, const std::string& name) {
    try {
      Sampler s(p);
      ADD_FAILURE() << name << " was accepted";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(name), std::string::npos) << e.what();
    }
  };
  const float nan = std::nanf(""), inf = std::numeric_limits<float>::infinity();
  SamplerParams p = plain();
  p.temperature = nan;
  refused(p, "temperature");
  p = plain(), p.top_p = nan;
  refused(p, "top_p");
  p = plain(), p.min_p = inf;
  refused(p, "min_p");
  p = plain(), p.frequency_penalty = inf;
  refused(p, "frequency_penalty");
  p = plain(), p.presence_penalty = -inf;
  refused(p, "presence_penalty");
  p = plain(), p.repeat_penalty = 0.0f;
  refused(p, "repeat_penalty");
  p = plain(), p.logit_bias = {{1, nan}};
  refused(p, "logit_bias");
}

// frequency_penalty 1e308 (the largest float once stored) with repeat_last_n -1 sent every seen token's logit to
// -inf, and once every token was seen the sampler threw. Finite inputs saturate: a token is still picked.
TEST(SamplerHardening, HugeFinitePenaltiesStillPickAToken) {
  SamplerParams p = plain();
  p.temperature = 0.8f;
  p.top_k = 40;
  p.top_p = 0.95f;
  p.min_p = 0.05f;
  p.repeat_last_n = -1;
  p.frequency_penalty = std::numeric_limits<float>::max();
  p.presence_penalty = std::numeric_limits<float>::max();
  Sampler s(p);
  for (int32_t t : {0, 1, 2, 3, 0}) s.accept(t);
  std::vector<float> l = {3.0f, 2.0f, 1.0f, 0.0f};
  for (int i = 0; i < 10; ++i) {
    const int32_t t = s.sample(l.data(), 4);
    EXPECT_TRUE(t >= 0 && t < 4) << t;
  }
  float total = 0;
  for (const TokenProb& t : s.distribution(l.data(), 4)) {
    EXPECT_FALSE(std::isnan(t.p));
    total += t.p;
  }
  EXPECT_NEAR(total, 1.0f, 1e-5);
}

// A temperature so small that 1/t overflows a float still means "the best token", not a tie at +inf.
TEST(SamplerHardening, TinyTemperatureKeepsTheArgmax) {
  SamplerParams p = plain();
  p.temperature = 1e-40f;  // subnormal: 1 / t is inf as a float
  Sampler s(p);
  expect_dist(dist(s, {1.0f, 3.0f, 2.0f}), {{1, 1.0}});
}

// A bias of +inf on a token whose logit is -inf (NaN from the model) must not make a NaN.
TEST(SamplerHardening, InfiniteBiasOnABannedTokenStaysBanned) {
  SamplerParams p = plain();
  p.logit_bias = {{0, std::numeric_limits<float>::infinity()}, {1, std::numeric_limits<float>::max()}};
  Sampler s(p);
  std::vector<float> l = {std::nanf(""), 1e38f, 0.0f};
  for (int i = 0; i < 10; ++i) EXPECT_EQ(s.sample(l.data(), 3), 1);
}

// Banning every token is the one request with truly no candidate: a clear error whatever the chain (greedy and
// top_k 1 used to pick a banned token).
TEST(SamplerHardening, BanningEveryTokenIsAClearErrorInEveryMode) {
  const float ninf = -std::numeric_limits<float>::infinity();
  std::vector<float> l = {1.0f, 2.0f, 3.0f};
  for (float temp : {0.8f, 0.0f})
    for (int top_k : {40, 1, 0}) {
      SamplerParams p = plain();
      p.temperature = temp;
      p.top_k = top_k;
      p.logit_bias = {{0, ninf}, {1, ninf}, {2, ninf}};
      Sampler s(p);
      try {
        s.sample(l.data(), 3);
        ADD_FAILURE() << "temperature " << temp << " top_k " << top_k << ": a banned token was sampled";
      } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("no token may be sampled"), std::string::npos) << e.what();
      }
    }
}

}  // namespace
}  // namespace hearth

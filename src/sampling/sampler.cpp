// The sampler chain as llama.cpp's common sampler applies it: penalties, top-k, top-p, min-p,
// temperature, seeded draw. temperature <= 0 is greedy after the penalties.
#include "sampling/sampler.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <unordered_map>

namespace hearth {
namespace {

struct Candidate {
  int32_t id;
  float logit;
};

void apply_penalties(const SamplerParams& p, const std::deque<int32_t>& recent, float* logits, int32_t n_vocab) {
  if (recent.empty() || (p.repeat_penalty == 1.0f && p.frequency_penalty == 0.0f && p.presence_penalty == 0.0f))
    return;
  std::unordered_map<int32_t, int> counts;
  for (int32_t t : recent) ++counts[t];
  for (const auto& [t, c] : counts) {
    if (t < 0 || t >= n_vocab) continue;
    float& l = logits[t];
    l = l <= 0 ? l * p.repeat_penalty : l / p.repeat_penalty;
    l -= static_cast<float>(c) * p.frequency_penalty + p.presence_penalty;
  }
}

void softmax(std::vector<Candidate>& c, std::vector<float>& probs) {
  probs.resize(c.size());
  float mx = c.empty() ? 0 : c[0].logit;
  for (const Candidate& x : c) mx = std::max(mx, x.logit);
  double sum = 0;
  for (size_t i = 0; i < c.size(); ++i) sum += (probs[i] = std::exp(c[i].logit - mx));
  for (float& p : probs) p = static_cast<float>(p / sum);
}

}  // namespace

Sampler::Sampler(const SamplerParams& p) : p_(p) {
  uint64_t seed = p.seed == 0xFFFFFFFFu ? std::random_device{}() : p.seed;
  rng_.seed(seed);
}

void Sampler::reset() {
  recent_.clear();
  rng_.seed(p_.seed == 0xFFFFFFFFu ? std::random_device{}() : p_.seed);
}

void Sampler::accept(int32_t token) {
  if (p_.repeat_last_n == 0) return;
  recent_.push_back(token);
  if (p_.repeat_last_n > 0)
    while (static_cast<int>(recent_.size()) > p_.repeat_last_n) recent_.pop_front();
}

int32_t Sampler::sample(float* logits, int32_t n_vocab) {
  apply_penalties(p_, recent_, logits, n_vocab);
  if (p_.temperature <= 0.0f) return static_cast<int32_t>(std::max_element(logits, logits + n_vocab) - logits);

  std::vector<Candidate> c(n_vocab);
  for (int32_t i = 0; i < n_vocab; ++i) c[i] = {i, logits[i]};
  auto by_logit = [](const Candidate& a, const Candidate& b) { return a.logit > b.logit || (a.logit == b.logit && a.id < b.id); };
  // top-k (sorted); without top-k, sort everything.
  size_t k = p_.top_k > 0 ? std::min<size_t>(p_.top_k, c.size()) : c.size();
  std::partial_sort(c.begin(), c.begin() + k, c.end(), by_logit);
  c.resize(k);
  std::vector<float> probs;
  // top-p: the smallest prefix whose probability reaches top_p (at least one).
  if (p_.top_p < 1.0f) {
    softmax(c, probs);
    double cum = 0;
    size_t keep = c.size();
    for (size_t i = 0; i < c.size(); ++i) {
      cum += probs[i];
      if (cum >= p_.top_p) {
        keep = i + 1;
        break;
      }
    }
    c.resize(keep);
  }
  // min-p: drop candidates whose probability is below min_p times the best one's.
  if (p_.min_p > 0.0f && c.size() > 1) {
    float threshold = c[0].logit + std::log(p_.min_p);
    size_t keep = 1;
    while (keep < c.size() && c[keep].logit >= threshold) ++keep;
    c.resize(keep);
  }
  for (Candidate& x : c) x.logit /= p_.temperature;
  softmax(c, probs);
  std::discrete_distribution<size_t> dist(probs.begin(), probs.end());
  return c[dist(rng_)].id;
}

}  // namespace hearth

#include "sampling/steps.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace hearth::sampling {
namespace {

constexpr float kMax = std::numeric_limits<float>::max();

// A finite logit changed by finite arithmetic stays finite: computed in double and clamped to the float range,
// as a huge penalty or a tiny temperature would otherwise overflow it to inf (and inf - inf to NaN). Infinite
// logits (a ban, or a +inf logit_bias) stay as they are.
void saturate_to(float& logit, double v) {
  if (std::isfinite(logit)) logit = static_cast<float>(std::clamp(v, -double{kMax}, double{kMax}));
}

// logit + bias: a ban (-inf) wins over anything, +inf over any finite logit; finite sums saturate.
float biased(float logit, float bias) {
  if (std::isinf(bias) || std::isinf(logit)) {
    const float sum = logit + bias;
    return std::isnan(sum) ? -std::numeric_limits<float>::infinity() : sum;
  }
  return static_cast<float>(std::clamp(double{logit} + double{bias}, -double{kMax}, double{kMax}));
}

}  // namespace

void LogitBias::apply(Candidates& c) {
  if (bias_.empty()) return;
  if (c.identity) {
    for (const auto& [id, b] : bias_)
      if (id >= 0 && static_cast<size_t>(id) < c.size()) c.data[id].logit = biased(c.data[id].logit, b);
  } else {
    for (Candidate& x : c.data)
      for (const auto& [id, b] : bias_)
        if (x.id == id) x.logit = biased(x.logit, b);
  }
  c.sorted = false;
}

int Penalties::count(int32_t token) const {
  auto it = counts_.find(token);
  return it == counts_.end() ? 0 : it->second;
}

std::vector<int32_t> Penalties::tokens() const {
  std::vector<int32_t> out;
  if (repeat_ == 1.0f && frequency_ == 0.0f && presence_ == 0.0f) return out;
  out.reserve(counts_.size());
  for (const auto& [id, n] : counts_) out.push_back(id);
  return out;
}

void Penalties::accept(int32_t token) {
  if (last_n_ == 0) return;
  window_.push_back(token);
  ++counts_[token];
  if (last_n_ > 0 && window_.size() > static_cast<size_t>(last_n_)) {
    auto it = counts_.find(window_.front());
    if (--it->second == 0) counts_.erase(it);
    window_.pop_front();
  }
}

void Penalties::reset() {
  window_.clear();
  counts_.clear();
}

void Penalties::apply(Candidates& c) {
  if (counts_.empty() || (repeat_ == 1.0f && frequency_ == 0.0f && presence_ == 0.0f)) return;
  auto penalize = [&](float& logit, int n) {
    const double l = logit;
    saturate_to(logit, (l <= 0.0 ? l * repeat_ : l / repeat_) - (n * double{frequency_} + presence_));
  };
  if (c.identity) {
    for (const auto& [id, n] : counts_)
      if (id >= 0 && static_cast<size_t>(id) < c.size()) penalize(c.data[id].logit, n);
  } else {
    for (Candidate& x : c.data)
      if (int n = count(x.id)) penalize(x.logit, n);
  }
  c.sorted = false;
}

void TopK::apply(Candidates& c) {
  if (k_ <= 0 || c.size() == 0) return;
  const size_t k = std::min(static_cast<size_t>(k_), c.size());
  if (!c.sorted) {
    // O(n) selection, then sorting only the k kept: no full sort of a 128k vocabulary.
    if (k < c.size()) std::nth_element(c.data.begin(), c.data.begin() + (k - 1), c.data.end(), candidate_before);
    std::sort(c.data.begin(), c.data.begin() + k, candidate_before);
    c.sorted = true;
    c.identity = false;
  }
  c.truncate(k);
}

void TopP::apply(Candidates& c) {
  if (p_ >= 1.0f || c.size() <= 1) return;
  c.softmax();
  // Sort a growing prefix until it holds the nucleus: the nucleus is usually far smaller than the vocabulary.
  size_t sorted_end = c.sorted ? c.size() : 0;
  size_t want = std::min<size_t>(c.size(), 64);
  double cum = 0;
  for (size_t i = 0; i < c.size(); ++i) {
    if (i == sorted_end) {
      std::partial_sort(c.data.begin() + i, c.data.begin() + want, c.data.end(), candidate_before);
      c.identity = false;
      sorted_end = want;
      want = std::min(c.size(), want * 4);
    }
    cum += c.data[i].p;
    if (cum >= p_) {
      c.sorted = true;
      c.truncate(i + 1);
      return;
    }
  }
  c.sorted = true;  // rounding left the sum below p: keep everything, now sorted
}

void MinP::apply(Candidates& c) {
  if (p_ <= 0.0f || c.size() <= 1) return;
  // p_i >= p * p_max  <=>  logit_i >= logit_max + log(p): no softmax needed.
  const float threshold = c.data[c.argmax()].logit + std::log(p_);
  if (c.sorted) {
    size_t keep = 1;
    while (keep < c.size() && c.data[keep].logit >= threshold) ++keep;
    c.truncate(keep);
    return;
  }
  auto end = std::remove_if(c.data.begin(), c.data.end(), [&](const Candidate& x) { return x.logit < threshold; });
  if (end != c.data.end()) {
    c.data.erase(end, c.data.end());
    c.identity = false;
  }
}

void Temperature::apply(Candidates& c) {
  if (c.size() == 0) return;
  if (t_ <= 0.0f) {
    const size_t best = c.argmax();
    if (c.data[best].logit == -std::numeric_limits<float>::infinity()) throw_all_banned();
    c.data[0] = c.data[best];
    c.truncate(1);
    c.sorted = true;
    return;
  }
  if (t_ == 1.0f) return;
  // Scaled relative to the best logit, so that a tiny temperature cannot overflow the best ones into a tie at
  // the largest float; softmax does not change with the shift.
  const float best = c.data[c.argmax()].logit;
  if (!std::isfinite(best)) return;  // +inf takes all the probability, scaled or not; all -inf: nothing to draw
  const double inv = 1.0 / t_;
  for (Candidate& x : c.data) saturate_to(x.logit, (double{x.logit} - best) * inv);
}

int32_t draw(Candidates& c, uint64_t random_bits) {
  if (c.size() == 1) {
    if (c.data[0].logit == -std::numeric_limits<float>::infinity()) throw_all_banned();
    return c.data[0].id;
  }
  c.softmax();
  const double u = static_cast<double>(random_bits >> 11) * 0x1.0p-53;  // [0, 1)
  double total = 0;
  for (const Candidate& x : c.data) total += x.p;
  const double target = u * total;
  double cum = 0;
  size_t last_positive = 0;
  for (size_t i = 0; i < c.size(); ++i) {
    if (c.data[i].p <= 0.0f) continue;
    cum += c.data[i].p;
    last_positive = i;
    if (cum > target) return c.data[i].id;
  }
  return c.data[last_positive].id;  // rounding: u * total landed on the sum itself
}

}  // namespace hearth::sampling

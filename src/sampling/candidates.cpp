#include "sampling/candidates.h"

#include <cmath>
#include <limits>
#include <string>

#include "hearth/error.h"

namespace hearth::sampling {

void throw_all_banned() {
  throw Error("sampler: no token may be sampled: every candidate token has logit -inf (logit_bias or the request's "
              "constraints banned them all)");
}

void Candidates::assign(const float* logits, int32_t n_vocab) {
  if (n_vocab <= 0) throw Error("sampler: n_vocab must be positive, got " + std::to_string(n_vocab));
  data.resize(static_cast<size_t>(n_vocab));
  for (int32_t i = 0; i < n_vocab; ++i) {
    float l = logits[i];
    // NaN would break the strict ordering sorting needs; treat it as impossible.
    data[i] = {i, std::isnan(l) ? -std::numeric_limits<float>::infinity() : l, 0.0f};
  }
  identity = true;
  sorted = false;
}

void Candidates::truncate(size_t n) {
  if (n >= data.size()) return;
  data.resize(n);
  identity = false;
}

size_t Candidates::argmax() const {
  if (data.empty()) throw Error("sampler: no candidate tokens left");
  if (sorted) return 0;
  size_t best = 0;
  for (size_t i = 1; i < data.size(); ++i)
    if (candidate_before(data[i], data[best])) best = i;
  return best;
}

float Candidates::softmax() {
  const float max = data[argmax()].logit;
  if (max == -std::numeric_limits<float>::infinity()) throw_all_banned();
  if (max == std::numeric_limits<float>::infinity()) {
    // +inf logits share all the probability.
    size_t n_inf = 0;
    for (const Candidate& x : data) n_inf += x.logit == max;
    for (Candidate& x : data) x.p = x.logit == max ? 1.0f / static_cast<float>(n_inf) : 0.0f;
    return max;
  }
  double sum = 0;
  for (Candidate& x : data) sum += (x.p = std::exp(x.logit - max));
  const float inv = static_cast<float>(1.0 / sum);
  for (Candidate& x : data) x.p *= inv;
  return max;
}

}  // namespace hearth::sampling

#include "runtime/logprobs.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

namespace hearth {

void log_softmax(const float* logits, int n_vocab, float* out) {
  float max = -std::numeric_limits<float>::infinity();
  for (int i = 0; i < n_vocab; ++i) max = std::max(max, logits[i]);
  if (!std::isfinite(max)) {  // every logit -inf (or a NaN): no distribution; report -inf
    std::fill(out, out + n_vocab, -std::numeric_limits<float>::infinity());
    return;
  }
  double sum = 0;  // double: a 150k-token vocabulary sums many small terms
  for (int i = 0; i < n_vocab; ++i) sum += std::exp(static_cast<double>(logits[i] - max));
  const float log_z = max + static_cast<float>(std::log(sum));
  for (int i = 0; i < n_vocab; ++i) out[i] = logits[i] - log_z;
}

TokenLogprob token_logprob(const float* logits, int n_vocab, int32_t chosen, int top_n, std::vector<float>& work) {
  work.resize(static_cast<size_t>(n_vocab));
  log_softmax(logits, n_vocab, work.data());
  TokenLogprob t;
  t.id = chosen;
  t.logprob = chosen >= 0 && chosen < n_vocab ? work[chosen] : -std::numeric_limits<float>::infinity();
  const int n = std::clamp(top_n, 0, n_vocab);
  if (n == 0) return t;
  std::vector<int32_t> ids(static_cast<size_t>(n_vocab));
  std::iota(ids.begin(), ids.end(), 0);
  std::partial_sort(ids.begin(), ids.begin() + n, ids.end(), [&](int32_t a, int32_t b) {
    return work[a] > work[b] || (work[a] == work[b] && a < b);
  });
  t.top.reserve(static_cast<size_t>(n));
  for (int k = 0; k < n; ++k) t.top.emplace_back(ids[k], work[ids[k]]);
  return t;
}

}  // namespace hearth

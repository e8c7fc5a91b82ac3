#include "pipeline/logit_candidates.h"

#include <algorithm>
#include <limits>
#include <string>

#include "hearth/error.h"
#include "pipeline/wire.h"

namespace hearth::pipeline {

void append_logits_request(const Sampler& sampler, bool want_whole_row, std::vector<int32_t>& spec) {
  const int limit = sampler.candidate_limit();
  if (want_whole_row || limit <= 0) {
    spec.push_back(kLogitsAll);
    return;
  }
  std::vector<int32_t> touched = sampler.touched_tokens();
  spec.push_back(limit);
  spec.push_back(static_cast<int32_t>(touched.size()));
  spec.insert(spec.end(), touched.begin(), touched.end());
}

void select_candidates(const float* logits, int n_rows, int n_vocab, const std::vector<int32_t>& spec,
                       std::vector<int32_t>& ints, std::vector<float>& values) {
  ints.clear();
  values.clear();
  std::vector<int32_t> order;
  size_t at = 0;
  auto take = [&]() {
    if (at >= spec.size()) throw Error("pipeline: logits request shorter than its rows");
    return spec[at++];
  };
  for (int r = 0; r < n_rows; ++r) {
    const float* row = logits + static_cast<size_t>(r) * n_vocab;
    const int32_t k = take();
    if (k == kLogitsAll) {
      ints.push_back(kLogitsAll);
      values.insert(values.end(), row, row + n_vocab);
      continue;
    }
    const int32_t n_touched = take();
    if (k < 1 || n_touched < 0 || at + n_touched > spec.size())
      throw Error("pipeline: malformed logits request (" + std::to_string(k) + " highest, " + std::to_string(n_touched) +
                  " tokens)");
    // The untouched part of the chain's top k lies within the k + n_touched highest raw logits, in the chain's
    // order (higher logit first, then lower id).
    const size_t keep = std::min<size_t>(static_cast<size_t>(k) + n_touched, n_vocab);
    order.resize(n_vocab);
    for (int i = 0; i < n_vocab; ++i) order[i] = i;
    auto before = [row](int32_t a, int32_t b) { return row[a] > row[b] || (row[a] == row[b] && a < b); };
    std::nth_element(order.begin(), order.begin() + (keep - 1), order.end(), before);
    order.resize(keep);
    for (int32_t i = 0; i < n_touched; ++i) {
      const int32_t id = spec[at++];
      if (id < 0 || id >= n_vocab) throw Error("pipeline: logits request names token " + std::to_string(id));
      order.push_back(id);
    }
    std::sort(order.begin(), order.end());
    order.erase(std::unique(order.begin(), order.end()), order.end());
    ints.push_back(static_cast<int32_t>(order.size()));
    ints.insert(ints.end(), order.begin(), order.end());
    for (int32_t id : order) values.push_back(row[id]);
  }
  if (at != spec.size()) throw Error("pipeline: logits request longer than its rows");
}

void expand_candidates(const std::vector<int32_t>& ints, const std::vector<float>& values, int n_rows, int n_vocab,
                       std::vector<float>& rows) {
  rows.assign(static_cast<size_t>(n_rows) * n_vocab, -std::numeric_limits<float>::infinity());
  size_t at = 0, v = 0;
  auto bad = [] { return Error("pipeline: malformed candidate logits from the last stage"); };
  for (int r = 0; r < n_rows; ++r) {
    float* row = rows.data() + static_cast<size_t>(r) * n_vocab;
    if (at >= ints.size()) throw bad();
    const int32_t n = ints[at++];
    if (n == kLogitsAll) {
      if (v + n_vocab > values.size()) throw bad();
      std::copy(values.begin() + v, values.begin() + v + n_vocab, row);
      v += n_vocab;
      continue;
    }
    if (n < 0 || at + n > ints.size() || v + n > values.size()) throw bad();
    for (int32_t i = 0; i < n; ++i) {
      const int32_t id = ints[at++];
      if (id < 0 || id >= n_vocab) throw bad();
      row[id] = values[v++];
    }
  }
  if (at != ints.size() || v != values.size()) throw bad();
}

}  // namespace hearth::pipeline

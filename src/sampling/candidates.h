// The working set of a sampler chain: the tokens still in the running, with their logits, and (after
// softmax) their probabilities. Steps shrink it, reorder it or rescale it; they never add tokens.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

namespace hearth::sampling {

struct Candidate {
  int32_t id;
  float logit;
  float p;  // probability after the last softmax(); stale once a step changes logits
};

struct Candidates {
  std::vector<Candidate> data;  // [n] tokens still in the running
  // data[i].id == i for every i: no step has filtered or reordered yet, so a token id is its index.
  bool identity = false;
  // data is ordered by logit, highest first (ties: lowest id first).
  bool sorted = false;

  size_t size() const { return data.size(); }
  // Fills data with every token of logits[n_vocab], in id order.
  void assign(const float* logits, int32_t n_vocab);
  // Keeps the first n (data must be sorted for that to mean "the best n").
  void truncate(size_t n);
  // Index of the highest logit (ties: lowest id).
  size_t argmax() const;
  // p = softmax(logit) over the current set, without reordering. Returns the highest logit.
  float softmax();
};

// Throws the hearth::Error for a step that finds every candidate banned (logit -inf): no token can be sampled.
[[noreturn]] void throw_all_banned();

// The order of a sorted Candidates: higher logit first, then lower id, so results never depend on
// how the standard library breaks ties.
inline bool candidate_before(const Candidate& a, const Candidate& b) {
  return a.logit > b.logit || (a.logit == b.logit && a.id < b.id);
}

}  // namespace hearth::sampling

// Prompt caching (llama.cpp server's cache_prompt): what each sequence's K/V holds, so that a new request goes to
// the free sequence sharing the longest prefix with its prompt and evaluates only the rest. Used by the
// one-process Scheduler and by the pipeline's driver (rank 0).
#pragma once
#include <cstddef>
#include <cstdint>
#include <functional>
#include <vector>

namespace hearth {

// How many leading tokens a and b share.
size_t common_prefix(const std::vector<int32_t>& a, const std::vector<int32_t>& b);

class PrefixCache {
 public:
  explicit PrefixCache(int n_seq) : held_(n_seq), last_used_(n_seq, 0) {}

  struct Choice {
    int seq = -1;      // -1: no free sequence
    size_t reuse = 0;  // prompt tokens whose K/V the sequence already holds (positions 0..reuse-1)
  };
  // Among the sequences is_free accepts: the one holding the longest prefix of prompt among those that would keep
  // at least half of what they hold (an empty one always qualifies), so that a shared BOS or system prompt does
  // not take the place of another conversation; ties, and no sequence qualifying, go to the least recently used.
  // reuse is 0 without use_cache (the prompt is evaluated again where it would have been reused, and the other
  // sequences keep theirs), else at most prompt.size() - 1: the last prompt token is always evaluated, its logits
  // give the first generated token. The chosen sequence is marked used; what it holds beyond reuse is forgotten.
  Choice choose(const std::vector<int32_t>& prompt, bool use_cache, const std::function<bool(int seq)>& is_free);
  // Token tok now sits at position pos of sequence seq. A position past the end (a gap) forgets the sequence:
  // what it holds is no longer known.
  void record(int seq, int pos, int32_t tok);
  // Nothing of seq is reusable (its K/V were not written as recorded, e.g. a failed forward pass).
  void forget(int seq) { held_.at(seq).clear(); }
  size_t held(int seq) const { return held_.at(seq).size(); }

 private:
  std::vector<std::vector<int32_t>> held_;
  std::vector<uint64_t> last_used_;
  uint64_t uses_ = 0;
};

}  // namespace hearth

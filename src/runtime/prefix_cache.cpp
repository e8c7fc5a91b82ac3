#include "runtime/prefix_cache.h"

#include <algorithm>

namespace hearth {

size_t common_prefix(const std::vector<int32_t>& a, const std::vector<int32_t>& b) {
  return static_cast<size_t>(std::mismatch(a.begin(), a.begin() + std::min(a.size(), b.size()), b.begin()).first -
                             a.begin());
}

PrefixCache::Choice PrefixCache::choose(const std::vector<int32_t>& prompt, bool use_cache,
                                        const std::function<bool(int seq)>& is_free) {
  Choice best, lru;
  size_t best_common = 0, lru_common = 0;
  for (int i = 0; i < static_cast<int>(held_.size()); ++i) {
    if (!is_free(i)) continue;
    const auto& h = held_[i];
    const size_t common = common_prefix(h, prompt);
    if (lru.seq < 0 || last_used_[i] < last_used_[lru.seq]) lru.seq = i, lru_common = common;
    if (2 * common < h.size()) continue;  // would throw away most of another conversation
    if (best.seq < 0 || common > best_common || (common == best_common && last_used_[i] < last_used_[best.seq]))
      best.seq = i, best_common = common;
  }
  if (best.seq < 0) best = lru, best_common = lru_common;
  if (best.seq < 0) return best;
  best.reuse = prompt.empty() || !use_cache ? 0 : std::min(best_common, prompt.size() - 1);
  held_[best.seq].resize(best.reuse);
  last_used_[best.seq] = ++uses_;
  return best;
}

void PrefixCache::record(int seq, int pos, int32_t tok) {
  auto& h = held_.at(seq);
  if (pos < 0 || static_cast<size_t>(pos) > h.size()) {
    h.clear();
    return;
  }
  h.resize(pos);
  h.push_back(tok);
}

}  // namespace hearth

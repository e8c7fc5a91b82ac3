#include "runtime/prefix_cache.h"

#include <algorithm>

namespace hearth {

PrefixCache::Choice PrefixCache::choose(const std::vector<int32_t>& prompt, bool use_cache,
                                        const std::function<bool(int seq)>& is_free) {
  Choice best;
  size_t best_common = 0;
  for (int i = 0; i < static_cast<int>(held_.size()); ++i) {
    if (!is_free(i)) continue;
    size_t common = 0;
    if (use_cache) {
      const auto& h = held_[i];
      while (common < h.size() && common < prompt.size() && h[common] == prompt[common]) ++common;
    }
    if (best.seq < 0 || common > best_common || (common == best_common && last_used_[i] < last_used_[best.seq]))
      best.seq = i, best_common = common;
  }
  if (best.seq < 0) return best;
  best.reuse = prompt.empty() ? 0 : std::min(best_common, prompt.size() - 1);
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

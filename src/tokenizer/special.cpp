// split_special: the special-token pass of encoding (see special.h).
#include "tokenizer/special.h"

#include <algorithm>

namespace hearth {

namespace {

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'; }

// Whether [b, e) overlaps one of the ranges.
bool overlaps(const TextRanges& ranges, size_t b, size_t e) {
  // The first range ending after b is the only one that can overlap [b, e).
  auto it = std::upper_bound(ranges.begin(), ranges.end(), b,
                             [](size_t pos, const std::pair<size_t, size_t>& r) { return pos < r.second; });
  return it != ranges.end() && it->first < e;
}

// A token that plain text must never produce: it would end a turn, start a sequence or steer the model.
bool control_like(const Vocab& vocab, int32_t id) {
  const TokenInfo& tok = vocab.tokens[id];
  return tok.control || tok.type == TokenType::Unknown || id == vocab.bos || id == vocab.eos ||
         vocab.eog.count(id) != 0;
}

}  // namespace

std::vector<Fragment> split_special(const Vocab& vocab, std::string_view text, bool parse_special,
                                    const TextRanges& plain) {
  std::vector<Fragment> frags;
  if (text.empty()) return frags;
  frags.push_back({-1, text});
  for (int32_t id : vocab.specials) {
    const TokenInfo& tok = vocab.tokens[id];
    if (!parse_special && (tok.control || tok.type == TokenType::Unknown)) continue;
    const bool check_plain = !plain.empty() && control_like(vocab, id);
    const std::string_view needle = tok.text;
    std::vector<Fragment> next;
    next.reserve(frags.size());
    bool changed = false;
    for (const Fragment& fr : frags) {
      if (fr.id >= 0 || fr.text.size() < needle.size()) {
        next.push_back(fr);
        continue;
      }
      std::string_view rest = fr.text;
      size_t from = 0;  // where in rest to look next (past matches that plain text keeps as text)
      size_t pos;
      while ((pos = rest.find(needle, from)) != std::string_view::npos) {
        if (check_plain) {
          const size_t at = static_cast<size_t>(rest.data() - text.data()) + pos;
          if (overlaps(plain, at, at + needle.size())) {
            from = pos + 1;
            continue;
          }
        }
        changed = true;
        std::string_view left = rest.substr(0, pos);
        if (tok.lstrip)
          while (!left.empty() && is_space(left.back())) left.remove_suffix(1);
        if (!left.empty()) next.push_back({-1, left});
        next.push_back({id, {}});
        rest = rest.substr(pos + needle.size());
        from = 0;
        if (tok.rstrip)
          while (!rest.empty() && is_space(rest.front())) rest.remove_prefix(1);
      }
      if (!rest.empty()) next.push_back({-1, rest});
    }
    if (changed) frags.swap(next);
  }
  return frags;
}

}  // namespace hearth

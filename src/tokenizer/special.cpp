#include "tokenizer/special.h"

namespace hearth {

namespace {

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'; }

}  // namespace

std::vector<Fragment> split_special(const Vocab& vocab, std::string_view text, bool parse_special) {
  std::vector<Fragment> frags;
  if (text.empty()) return frags;
  frags.push_back({-1, text});
  for (int32_t id : vocab.specials) {
    const TokenInfo& tok = vocab.tokens[id];
    if (!parse_special && (tok.control || tok.type == TokenType::Unknown)) continue;
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
      size_t pos;
      while ((pos = rest.find(needle)) != std::string_view::npos) {
        changed = true;
        std::string_view left = rest.substr(0, pos);
        if (tok.lstrip)
          while (!left.empty() && is_space(left.back())) left.remove_suffix(1);
        if (!left.empty()) next.push_back({-1, left});
        next.push_back({id, {}});
        rest = rest.substr(pos + needle.size());
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

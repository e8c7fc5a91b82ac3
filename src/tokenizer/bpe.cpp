#include "tokenizer/bpe.h"

#include <algorithm>
#include <queue>
#include <string>

#include "tokenizer/utf8.h"

namespace hearth {

namespace {

struct Symbol {
  int prev = -1;
  int next = -1;
  size_t begin = 0;  // byte range in the encoded word
  size_t n = 0;      // 0 once merged into its left neighbour
};

struct Bigram {
  int left = 0;
  int right = 0;
  int rank = 0;
  size_t left_n = 0, right_n = 0;  // sizes when queued, to recognize stale entries
};

// Lowest rank first; among equal ranks the leftmost pair.
struct BigramGreater {
  bool operator()(const Bigram& a, const Bigram& b) const {
    return a.rank > b.rank || (a.rank == b.rank && a.left > b.left);
  }
};

}  // namespace

BpeModel::BpeModel(const Vocab& vocab) : vocab_(vocab), pre_(vocab.pre) {
  ranks_.reserve(vocab.merges.size() * 2);
  for (size_t i = 0; i < vocab.merges.size(); ++i) ranks_.emplace(vocab.merges[i], static_cast<int>(i));
  const std::string& p = vocab.pre;
  ignore_merges_ = p == "llama3" || p == "llama-v3" || p == "llama-bpe" || p == "falcon3" || p == "falcon-h1" ||
                   p == "pixtral" || p == "tekken" || p == "midm-2.0" || p == "lfm2";
}

int BpeModel::rank(std::string_view left, std::string_view right) const {
  std::string key;
  key.reserve(left.size() + right.size() + 1);
  key.append(left).append(1, ' ').append(right);
  auto it = ranks_.find(key);
  return it == ranks_.end() ? -1 : it->second;
}

void BpeModel::tokenize(std::string_view text, std::vector<int32_t>& out) const {
  const std::string clean = utf8::sanitize(text);
  for (std::string_view word : pre_.split(clean)) {
    std::string encoded;
    encoded.reserve(word.size() * 2);
    for (char c : word) encoded += utf8::byte_to_unicode(static_cast<uint8_t>(c));
    tokenize_word(encoded, out);
  }
}

void BpeModel::tokenize_word(std::string_view word, std::vector<int32_t>& out) const {
  if (word.empty()) return;
  if (ignore_merges_) {
    if (int32_t id = vocab_.find(word); id >= 0) {
      out.push_back(id);
      return;
    }
  }
  std::vector<Symbol> sym;
  for (size_t off = 0; off < word.size();) {
    Symbol s;
    s.begin = off;
    s.n = std::min(utf8::seq_len(static_cast<unsigned char>(word[off])), word.size() - off);
    off += s.n;
    s.prev = static_cast<int>(sym.size()) - 1;
    s.next = off == word.size() ? -1 : static_cast<int>(sym.size()) + 1;
    sym.push_back(s);
  }
  std::priority_queue<Bigram, std::vector<Bigram>, BigramGreater> queue;
  auto try_add = [&](int l, int r) {
    if (l < 0 || r < 0) return;
    int rk = rank(word.substr(sym[l].begin, sym[l].n), word.substr(sym[r].begin, sym[r].n));
    if (rk >= 0) queue.push({l, r, rk, sym[l].n, sym[r].n});
  };
  for (int i = 1; i < static_cast<int>(sym.size()); ++i) try_add(i - 1, i);

  while (!queue.empty()) {
    Bigram b = queue.top();
    queue.pop();
    Symbol& l = sym[b.left];
    Symbol& r = sym[b.right];
    if (l.n == 0 || r.n == 0 || l.n != b.left_n || r.n != b.right_n) continue;
    l.n += r.n;
    r.n = 0;
    l.next = r.next;
    if (r.next >= 0) sym[r.next].prev = b.left;
    try_add(l.prev, b.left);
    try_add(b.left, l.next);
  }

  for (int i = 0; i != -1; i = sym[i].next) {
    std::string_view piece = word.substr(sym[i].begin, sym[i].n);
    if (int32_t id = vocab_.find(piece); id >= 0) {
      out.push_back(id);
      continue;
    }
    // Not a token: fall back to its single bytes that are tokens (as llama.cpp does).
    for (char c : piece)
      if (int32_t id = vocab_.find(std::string_view(&c, 1)); id >= 0) out.push_back(id);
  }
}

std::string BpeModel::decode_token_text(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t pos = 0; pos < text.size();) {
    size_t start = pos;
    uint32_t cp = utf8::decode(text, pos);
    int b = utf8::unicode_to_byte(cp);
    if (b >= 0)
      out += static_cast<char>(b);
    else
      out.append(text.substr(start, pos - start));  // not a byte symbol: keep it as written
  }
  return out;
}

}  // namespace hearth

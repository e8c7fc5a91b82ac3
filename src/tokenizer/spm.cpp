#include "tokenizer/spm.h"

#include <algorithm>
#include <cstdio>
#include <queue>
#include <string>

#include "tokenizer/utf8.h"

namespace hearth {

namespace {

struct Symbol {
  int prev = -1;
  int next = -1;
  size_t begin = 0;  // byte range in the text
  size_t n = 0;      // 0 once merged into its left neighbour
};

struct Bigram {
  int left = 0;
  int right = 0;
  float score = 0;
  size_t size = 0;
};

// Highest score first; among equal scores the leftmost pair.
struct BigramLess {
  bool operator()(const Bigram& a, const Bigram& b) const {
    return a.score < b.score || (a.score == b.score && a.left > b.left);
  }
};

class SpmSession {
 public:
  SpmSession(const Vocab& v, std::string_view text) : vocab_(v), text_(text) {}

  void run(std::vector<int32_t>& out) {
    for (size_t off = 0; off < text_.size();) {
      Symbol s;
      s.begin = off;
      // One character per symbol; an invalid byte is a symbol of its own (it will become a byte token).
      size_t end = off;
      utf8::decode(text_, end);
      s.n = end - off;
      off = end;
      s.prev = static_cast<int>(symbols_.size()) - 1;
      s.next = off == text_.size() ? -1 : static_cast<int>(symbols_.size()) + 1;
      symbols_.push_back(s);
    }
    for (int i = 1; i < static_cast<int>(symbols_.size()); ++i) try_add(i - 1, i);

    while (!queue_.empty()) {
      Bigram b = queue_.top();
      queue_.pop();
      Symbol& l = symbols_[b.left];
      Symbol& r = symbols_[b.right];
      // Stale entry: one side was merged away since it was queued.
      if (l.n == 0 || r.n == 0 || l.n + r.n != b.size) continue;
      l.n += r.n;
      r.n = 0;
      l.next = r.next;
      if (r.next >= 0) symbols_[r.next].prev = b.left;
      try_add(l.prev, b.left);
      try_add(b.left, l.next);
    }

    for (int i = symbols_.empty() ? -1 : 0; i != -1; i = symbols_[i].next) resegment(symbols_[i].begin, symbols_[i].n, out);
  }

 private:
  std::string_view piece(size_t begin, size_t n) const { return text_.substr(begin, n); }

  void try_add(int left, int right) {
    if (left < 0 || right < 0) return;
    const Symbol& l = symbols_[left];
    const Symbol& r = symbols_[right];
    std::string_view t = piece(l.begin, l.n + r.n);
    int32_t id = vocab_.find(t);
    if (id < 0) return;
    queue_.push({left, right, vocab_.tokens[id].score, t.size()});
  }

  // Every merge forms a token, so a final symbol that is not a token is a single character: emit its bytes.
  void resegment(size_t begin, size_t n, std::vector<int32_t>& out) const {
    std::string_view t = piece(begin, n);
    if (int32_t id = vocab_.find(t); id >= 0) {
      out.push_back(id);
      return;
    }
    for (char c : t)
      if (int32_t b = spm_byte_token(vocab_, static_cast<uint8_t>(c)); b >= 0) out.push_back(b);
  }

  const Vocab& vocab_;
  std::string_view text_;
  std::vector<Symbol> symbols_;
  std::priority_queue<Bigram, std::vector<Bigram>, BigramLess> queue_;
};

}  // namespace

int32_t spm_byte_token(const Vocab& vocab, uint8_t byte) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "<0x%02X>", byte);
  int32_t id = vocab.find(buf);
  if (id >= 0) return id;
  id = vocab.find(std::string(1, static_cast<char>(byte)));
  return id >= 0 ? id : vocab.unk;
}

void spm_tokenize(const Vocab& vocab, std::string_view text, std::vector<int32_t>& out) {
  if (text.empty()) return;
  SpmSession(vocab, text).run(out);
}

}  // namespace hearth

// Byte-level BPE (tokenizer.ggml.model = "gpt2"): pre-tokenize into words, map each byte to GPT-2's
// printable code point, then merge adjacent symbols by the lowest merge rank (order in tokenizer.ggml.merges).
#pragma once
#include <cstdint>
#include <memory>
#include <string_view>
#include <vector>

#include "tokenizer/pretokenizer.h"
#include "tokenizer/vocab.h"

namespace hearth {

class BpeModel {
 public:
  // Throws hearth::Error for an unknown pre-tokenizer.
  explicit BpeModel(const Vocab& vocab);
  // Appends the tokens of plain text (no special tokens) to out. Invalid UTF-8 becomes U+FFFD.
  void tokenize(std::string_view text, std::vector<int32_t>& out) const;
  // A token's text back to bytes (GPT-2 code points -> bytes).
  static std::string decode_token_text(std::string_view text);

 private:
  void tokenize_word(std::string_view word, std::vector<int32_t>& out) const;
  int rank(std::string_view left, std::string_view right) const;

  const Vocab& vocab_;
  PreTokenizer pre_;
  StringMap<int> ranks_;        // "left right" -> merge rank
  bool ignore_merges_ = false;  // Llama 3: a word that is a whole token is taken as is
};

}  // namespace hearth

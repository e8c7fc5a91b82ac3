// Byte-level BPE pre-tokenization: the text is cut into words by the model's regexes (tokenizer.ggml.pre),
// applied in sequence with PCRE2 (UTF + UCP). Each regex splits every piece left by the previous one into
// its matches and the text between them, as llama.cpp's unicode_regex_split does.
#pragma once
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace hearth {

class PreTokenizer {
 public:
  // Throws hearth::Error for an unknown pre-tokenizer name.
  explicit PreTokenizer(const std::string& pre);
  ~PreTokenizer();
  PreTokenizer(const PreTokenizer&) = delete;
  PreTokenizer& operator=(const PreTokenizer&) = delete;

  // text must be valid UTF-8 (see utf8::sanitize). Returns the words in order; they concatenate to text.
  std::vector<std::string_view> split(std::string_view text) const;

  // The regexes for a pre-tokenizer name, or an empty list when unknown.
  static std::vector<std::string> regexes_for(const std::string& pre);

 private:
  struct Regex;
  std::vector<std::unique_ptr<Regex>> regexes_;
};

}  // namespace hearth

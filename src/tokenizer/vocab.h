// The vocabulary of a GGUF file (tokenizer.ggml.*): token texts, scores, types, special ids and the flags
// that steer encoding, with llama.cpp's defaults per model type.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace hearth {

class GgufFile;

// tokenizer.ggml.token_type values.
enum class TokenType : int32_t { Undefined = 0, Normal = 1, Unknown = 2, Control = 3, UserDefined = 4, Unused = 5, Byte = 6 };

struct TokenInfo {
  std::string text;
  float score = 0.0f;
  TokenType type = TokenType::Normal;
  bool control = false;  // matched only with parse_special; dropped by decode unless keep_special
  bool lstrip = false;   // whitespace left of the token is swallowed when it is matched as special
  bool rstrip = false;   // ... and right of it
};

// Lets the maps be searched with a string_view without building a std::string.
struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};
template <class V>
using StringMap = std::unordered_map<std::string, V, StringHash, std::equal_to<>>;

struct Vocab {
  std::string model;  // "llama" (SPM), "gpt2" (byte-level BPE)
  std::string pre;    // tokenizer.ggml.pre as written ("default" when absent)
  std::vector<TokenInfo> tokens;                       // [n_vocab]
  StringMap<int32_t> text_to_id;                          // exact token text -> id
  std::vector<std::string> merges;                      // BPE merges "a b", rank = index

  int32_t bos = -1, eos = -1, unk = -1, eot = -1, eom = -1;
  bool add_bos = false;
  bool add_eos = false;
  bool add_space_prefix = false;  // SPM: "▁" before the first piece of text
  std::unordered_set<int32_t> eog;  // end-of-generation ids
  // Ids matched in the raw text before regular tokenization (control, user-defined, unknown),
  // longest text first.
  std::vector<int32_t> specials;

  int32_t n_vocab() const { return static_cast<int32_t>(tokens.size()); }
  bool valid(int32_t id) const { return id >= 0 && id < n_vocab(); }
  int32_t find(std::string_view text) const;
};

// Reads and validates the vocabulary; throws hearth::Error naming the problem.
Vocab vocab_load(const GgufFile& file);

}  // namespace hearth

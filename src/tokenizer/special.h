// Splitting raw text at special tokens before the regular tokenization of the pieces between them.
#pragma once
#include <cstdint>
#include <string_view>
#include <vector>

#include "tokenizer/vocab.h"

namespace hearth {

// One piece of the input: a special token (id >= 0) or a run of plain text (id < 0).
struct Fragment {
  int32_t id = -1;
  std::string_view text;  // plain text; a view into the caller's input
};

// Matches vocab.specials longest first, leftmost occurrences first, as llama.cpp does. User-defined tokens
// are always matched; control and unknown tokens only when parse_special.
std::vector<Fragment> split_special(const Vocab& vocab, std::string_view text, bool parse_special);

}  // namespace hearth

// Splitting raw text at special tokens before the regular tokenization of the pieces between them.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <utility>
#include <vector>

#include "tokenizer/vocab.h"

namespace hearth {

// One piece of the input: a special token (id >= 0) or a run of plain text (id < 0).
struct Fragment {
  int32_t id = -1;
  std::string_view text;  // plain text; a view into the caller's input
};

// Byte ranges [begin, end) of the input, ascending and disjoint.
using TextRanges = std::vector<std::pair<size_t, size_t>>;

// Matches vocab.specials longest first, leftmost occurrences first, as llama.cpp does. User-defined tokens
// are always matched; control and unknown tokens only when parse_special.
//
// plain: ranges of the input that are plain text whatever parse_special says (a chat prompt's message
// content): no control, unknown, BOS, EOS or end-of-generation token is matched overlapping them; other
// user-defined tokens are, as in any plain text (they are ordinary vocabulary, e.g. GPT-NeoX's runs of spaces).
std::vector<Fragment> split_special(const Vocab& vocab, std::string_view text, bool parse_special,
                                    const TextRanges& plain = {});

}  // namespace hearth

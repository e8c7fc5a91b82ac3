// SentencePiece-style tokenization (tokenizer.ggml.model = "llama"): start from UTF-8 characters and
// repeatedly merge the adjacent pair whose concatenation is the highest-scoring token; pieces that are
// not tokens fall back to <0xNN> byte tokens.
#pragma once
#include <cstdint>
#include <string_view>
#include <vector>

#include "tokenizer/vocab.h"

namespace hearth {

// text must already have spaces escaped as "▁". Appends to out.
void spm_tokenize(const Vocab& vocab, std::string_view text, std::vector<int32_t>& out);

// The token for one byte: <0xNN>, else the one-character token, else unk (-1 when none).
int32_t spm_byte_token(const Vocab& vocab, uint8_t byte);

}  // namespace hearth

// UTF-8 helpers for the tokenizers and the GPT-2 byte <-> unicode mapping of byte-level BPE.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace hearth::utf8 {

// Length of the sequence a lead byte announces (1 for continuation or invalid bytes), as llama.cpp counts it.
size_t seq_len(unsigned char lead);
// Decodes one code point at text[pos]; on an invalid sequence returns U+FFFD and advances by one byte.
uint32_t decode(std::string_view text, size_t& pos);
void append(std::string& out, uint32_t cp);
// Replaces every invalid sequence with U+FFFD, so that PCRE2 (UTF mode) always gets valid input.
std::string sanitize(std::string_view text);

// GPT-2's reversible byte -> printable code point table ("Ġ" for space), as UTF-8.
const std::string& byte_to_unicode(uint8_t b);
// The inverse; returns -1 for a code point that is not in the table.
int unicode_to_byte(uint32_t cp);

}  // namespace hearth::utf8

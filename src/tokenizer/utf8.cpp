#include "tokenizer/utf8.h"

#include <array>

namespace hearth::utf8 {

size_t seq_len(unsigned char lead) {
  static constexpr size_t kLen[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4};
  return kLen[lead >> 4];
}

uint32_t decode(std::string_view s, size_t& pos) {
  const auto b0 = static_cast<unsigned char>(s[pos]);
  auto cont = [&](size_t k) { return pos + k < s.size() && (static_cast<unsigned char>(s[pos + k]) & 0xC0) == 0x80; };
  auto c = [&](size_t k) { return static_cast<uint32_t>(static_cast<unsigned char>(s[pos + k]) & 0x3F); };
  uint32_t cp = 0xFFFD;
  size_t n = 1;
  if (b0 < 0x80) {
    cp = b0;
  } else if ((b0 & 0xE0) == 0xC0 && cont(1)) {
    cp = ((b0 & 0x1Fu) << 6) | c(1);
    n = cp >= 0x80 ? 2 : 1;
    if (n == 1) cp = 0xFFFD;
  } else if ((b0 & 0xF0) == 0xE0 && cont(1) && cont(2)) {
    cp = ((b0 & 0x0Fu) << 12) | (c(1) << 6) | c(2);
    n = 3;
    if (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF)) cp = 0xFFFD, n = 1;
  } else if ((b0 & 0xF8) == 0xF0 && cont(1) && cont(2) && cont(3)) {
    cp = ((b0 & 0x07u) << 18) | (c(1) << 12) | (c(2) << 6) | c(3);
    n = 4;
    if (cp < 0x10000 || cp > 0x10FFFF) cp = 0xFFFD, n = 1;
  }
  pos += n;
  return cp;
}

void append(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

std::string sanitize(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t pos = 0; pos < text.size();) append(out, decode(text, pos));
  return out;
}

namespace {

// Printable bytes map to themselves; the others to 256, 257, ... in byte order.
struct ByteTable {
  std::array<uint32_t, 256> cp{};
  std::array<std::string, 256> text;
  std::array<int, 512> rev{};  // code point -> byte, -1 where none (all code points used are < 512)
  ByteTable() {
    rev.fill(-1);
    int n = 0;
    for (int b = 0; b < 256; ++b) {
      bool printable = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
      cp[b] = printable ? static_cast<uint32_t>(b) : static_cast<uint32_t>(256 + n++);
      append(text[b], cp[b]);
      rev[cp[b]] = b;
    }
  }
};

const ByteTable& table() {
  static const ByteTable t;
  return t;
}

}  // namespace

const std::string& byte_to_unicode(uint8_t b) { return table().text[b]; }

int unicode_to_byte(uint32_t cp) { return cp < 512 ? table().rev[cp] : -1; }

}  // namespace hearth::utf8

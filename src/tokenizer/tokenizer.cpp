// Tokenizer::from_gguf and the one implementation behind it: a Vocab plus SPM or byte-level BPE.
#include "tokenizer/tokenizer.h"

#include <memory>

#include "gguf/gguf.h"
#include "hearth/error.h"
#include "tokenizer/bpe.h"
#include "tokenizer/special.h"
#include "tokenizer/spm.h"
#include "tokenizer/vocab.h"

namespace hearth {

namespace {

const char kSpmSpace[] = "\xE2\x96\x81";  // "▁" U+2581

std::string spm_escape(std::string_view text, bool prefix_space) {
  std::string out;
  out.reserve(text.size() + 8);
  if (prefix_space) out += kSpmSpace;
  for (char c : text) {
    if (c == ' ')
      out += kSpmSpace;
    else
      out += c;
  }
  return out;
}

std::string spm_unescape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size();) {
    if (text.compare(i, 3, kSpmSpace) == 0) {
      out += ' ';
      i += 3;
    } else {
      out += text[i++];
    }
  }
  return out;
}

// "<0x0A>" -> 10; -1 when the text is not a byte token.
int parse_byte_token(std::string_view t) {
  if (t.size() != 6 || t.substr(0, 3) != "<0x" || t[5] != '>') return -1;
  auto hex = [](char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
  };
  int hi = hex(t[3]), lo = hex(t[4]);
  return hi < 0 || lo < 0 ? -1 : hi * 16 + lo;
}

class VocabTokenizer final : public Tokenizer {
 public:
  explicit VocabTokenizer(Vocab v) : v_(std::move(v)), spm_(v_.model == "llama") {
    if (!spm_) bpe_ = std::make_unique<BpeModel>(v_);
  }
  VocabTokenizer(const VocabTokenizer&) = delete;
  VocabTokenizer& operator=(const VocabTokenizer&) = delete;

  std::vector<int32_t> encode(std::string_view text, bool add_bos, bool parse_special) const override {
    return encode_ranges(text, add_bos, parse_special, {});
  }

  std::vector<int32_t> encode_chat(const ChatPrompt& prompt) const override {
    // The template wrote BOS itself when its text (not a message's) starts with BOS's text.
    bool has_bos = false;
    if (v_.bos >= 0) {
      const std::string& bos = v_.tokens[v_.bos].text;
      has_bos = prompt.text.rfind(bos, 0) == 0 && (prompt.content.empty() || prompt.content[0].first >= bos.size());
    }
    return encode_ranges(prompt.text, !has_bos, true, prompt.content);
  }

  using Tokenizer::token_to_piece;
  std::string token_to_piece(int32_t id, bool special) const override {
    if (!v_.valid(id)) return {};
    const TokenInfo& t = v_.tokens[id];
    if (t.control || t.type == TokenType::Unknown) return special ? t.text : std::string();
    if (t.type == TokenType::UserDefined) return t.text;
    if (t.type == TokenType::Byte) {
      int b = parse_byte_token(t.text);
      if (b >= 0) return std::string(1, static_cast<char>(b));
    }
    return spm_ ? spm_unescape(t.text) : BpeModel::decode_token_text(t.text);
  }

  std::string decode(const std::vector<int32_t>& ids, bool keep_special) const override {
    std::string out;
    // SPM's space prefix is removed again from the first token; without keep_special, the dropped
    // BOS does not count as that first token.
    bool strip_space = spm_ && v_.add_space_prefix;
    for (int32_t id : ids) {
      if (!v_.valid(id)) continue;
      const TokenInfo& t = v_.tokens[id];
      if (!keep_special && (t.control || t.type == TokenType::Unknown)) continue;
      std::string piece = token_to_piece(id, true);
      if (strip_space && !piece.empty() && piece[0] == ' ') piece.erase(0, 1);
      strip_space = false;
      out += piece;
    }
    return out;
  }

  int32_t n_vocab() const override { return v_.n_vocab(); }
  std::string model() const override { return v_.model; }
  std::string pre() const override { return v_.pre; }
  int32_t bos() const override { return v_.bos; }
  int32_t eos() const override { return v_.eos; }
  bool add_bos() const override { return v_.add_bos; }
  bool is_eog(int32_t id) const override { return v_.eog.count(id) != 0; }
  int32_t find_token(std::string_view text) const override { return v_.find(text); }

 private:
  // encode, with the plain ranges of split_special.
  std::vector<int32_t> encode_ranges(std::string_view text, bool add_bos, bool parse_special,
                                     const TextRanges& plain) const {
    std::vector<int32_t> out;
    out.reserve(text.size() / 3 + 2);
    if (add_bos && v_.add_bos && v_.bos >= 0) out.push_back(v_.bos);
    bool prev_special = true;  // SPM: the first piece of text gets the space prefix, as do pieces after specials
    for (const Fragment& fr : split_special(v_, text, parse_special, plain)) {
      if (fr.id >= 0) {
        out.push_back(fr.id);
        prev_special = true;
      } else if (spm_) {
        spm_tokenize(v_, spm_escape(fr.text, v_.add_space_prefix && prev_special), out);
        prev_special = false;
      } else {
        bpe_->tokenize(fr.text, out);
      }
    }
    if (add_bos && v_.add_eos && v_.eos >= 0) out.push_back(v_.eos);
    return out;
  }

  Vocab v_;
  bool spm_;
  std::unique_ptr<BpeModel> bpe_;  // byte-level BPE only; refers to v_
};

}  // namespace

std::unique_ptr<Tokenizer> Tokenizer::from_gguf(const GgufFile& file) {
  Vocab v = vocab_load(file);
  try {
    return std::make_unique<VocabTokenizer>(std::move(v));
  } catch (const Error& e) {
    throw Error(file.path() + ": " + e.what());
  }
}

}  // namespace hearth

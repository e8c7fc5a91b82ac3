// Text <-> token ids from a GGUF vocabulary (tokenizer.ggml.*): SentencePiece ("llama") and
// byte-level BPE ("gpt2") with the model's pre-tokenizer (tokenizer.ggml.pre).
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "hearth/chat.h"

namespace hearth {

class GgufFile;

class Tokenizer {
 public:
  // Throws hearth::Error for a missing or unsupported vocabulary.
  static std::unique_ptr<Tokenizer> from_gguf(const GgufFile& file);
  virtual ~Tokenizer() = default;

  // add_bos: prepend BOS when the vocabulary asks for it (tokenizer.ggml.add_bos_token, default per model type).
  // parse_special: text such as "<|eot_id|>" becomes the special token instead of plain text.
  virtual std::vector<int32_t> encode(std::string_view text, bool add_bos, bool parse_special) const = 0;
  // A rendered chat prompt: special tokens come only from the template's text; the messages' text
  // (prompt.content) is plain text. BOS is added unless the template's text starts with it.
  virtual std::vector<int32_t> encode_chat(const ChatPrompt& prompt) const = 0;
  // The bytes of one token as it appears in text (SPM: leading space restored; byte tokens as their byte).
  // special: control and unknown tokens as their spelling ("</s>"); without it they are empty, as llama.cpp's
  // llama_token_to_piece(special = false) renders them in generated text.
  virtual std::string token_to_piece(int32_t id, bool special) const = 0;
  std::string token_to_piece(int32_t id) const { return token_to_piece(id, true); }
  // Whole-sequence decode; drops BOS/EOS/control tokens unless keep_special.
  virtual std::string decode(const std::vector<int32_t>& ids, bool keep_special = false) const = 0;

  virtual int32_t n_vocab() const = 0;
  virtual std::string model() const = 0;  // "llama", "gpt2"
  virtual std::string pre() const = 0;    // pre-tokenizer name ("llama3", "default", ...)
  virtual int32_t bos() const = 0;         // -1 when absent
  virtual int32_t eos() const = 0;
  virtual bool add_bos() const = 0;
  // End of generation: EOS, EOT (<|eot_id|>, <|im_end|>, <end_of_turn>, ...).
  virtual bool is_eog(int32_t id) const = 0;
  // Id of an exact token text (e.g. "<|im_end|>"), or -1.
  virtual int32_t find_token(std::string_view text) const = 0;
};

}  // namespace hearth

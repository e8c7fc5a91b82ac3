#include "tokenizer/vocab.h"

#include <algorithm>
#include <cctype>

#include "gguf/gguf.h"
#include "hearth/error.h"

namespace hearth {

int32_t Vocab::find(std::string_view text) const {
  auto it = text_to_id.find(text);
  return it == text_to_id.end() ? -1 : it->second;
}

namespace {

// A special-token id from the file, or def when the key is absent or the id is out of range
// (stories260K writes 0xFFFFFFFF for "none").
int32_t read_id(const GgufFile& f, std::string_view key, int32_t def, int32_t n_vocab) {
  const GgufValue* v = f.find(key);
  if (!v || !v->is_int()) return def;
  if (v->i < 0 || v->u >= static_cast<uint64_t>(n_vocab)) return def;
  return static_cast<int32_t>(v->u);
}

bool is_eog_text(std::string_view t) {
  static const char* const kEog[] = {"<|eot_id|>",    "<|im_end|>",  "<|end|>",       "<end_of_turn>",
                                     "<|endoftext|>", "<|eom_id|>",  "<|end_of_text|>", "<EOT>",
                                     "<|return|>",    "<|call|>"};
  for (const char* e : kEog)
    if (t == e) return true;
  return false;
}

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

}  // namespace

Vocab vocab_load(const GgufFile& f) {
  Vocab v;
  v.model = f.get_string("tokenizer.ggml.model");
  if (v.model.empty()) throw Error(f.path() + ": no tokenizer (tokenizer.ggml.model missing)");
  if (v.model != "llama" && v.model != "gpt2")
    throw Error(f.path() + ": unsupported tokenizer model '" + v.model + "' (supported: llama, gpt2)");
  v.pre = f.get_string("tokenizer.ggml.pre", "default");
  if (v.pre.empty()) v.pre = "default";

  const auto& texts = f.get_array_strings("tokenizer.ggml.tokens");
  if (texts.empty()) throw Error(f.path() + ": tokenizer.ggml.tokens is missing or empty");
  if (texts.size() > static_cast<size_t>(INT32_MAX)) throw Error(f.path() + ": too many tokens");
  const auto n = static_cast<int32_t>(texts.size());
  const std::vector<float> scores = f.get_array_f32("tokenizer.ggml.scores");
  const std::vector<int64_t> types = f.get_array_int("tokenizer.ggml.token_type");
  if (!scores.empty() && scores.size() < texts.size())
    throw Error(f.path() + ": tokenizer.ggml.scores has " + std::to_string(scores.size()) + " entries, expected " +
                std::to_string(n));
  if (!types.empty() && types.size() < texts.size())
    throw Error(f.path() + ": tokenizer.ggml.token_type has " + std::to_string(types.size()) + " entries, expected " +
                std::to_string(n));

  v.tokens.resize(n);
  v.text_to_id.reserve(texts.size() * 2);
  for (int32_t i = 0; i < n; ++i) {
    TokenInfo& t = v.tokens[i];
    t.text = texts[i].empty() ? "[EMPTY_" + std::to_string(i) + "]" : std::string(texts[i]);
    t.score = scores.empty() ? 0.0f : scores[i];
    int64_t ty = types.empty() ? 1 : types[i];
    t.type = (ty >= 0 && ty <= 6) ? static_cast<TokenType>(ty) : TokenType::Undefined;
    t.control = t.type == TokenType::Control;
    // Duplicate texts: the first id wins (llama.cpp refuses the file; we stay lenient for decode).
    v.text_to_id.emplace(t.text, i);
  }

  if (v.model == "gpt2") {
    const auto& merges = f.get_array_strings("tokenizer.ggml.merges");
    if (merges.empty()) throw Error(f.path() + ": BPE tokenizer without tokenizer.ggml.merges");
    v.merges.assign(merges.begin(), merges.end());
  }

  // Defaults per model type, as llama.cpp sets them; the file's keys override.
  const bool spm = v.model == "llama";
  v.bos = read_id(f, "tokenizer.ggml.bos_token_id", spm ? 1 : 11, n);
  v.eos = read_id(f, "tokenizer.ggml.eos_token_id", spm ? 2 : 11, n);
  if (!v.valid(v.bos)) v.bos = -1;
  if (!v.valid(v.eos)) v.eos = -1;
  v.unk = read_id(f, "tokenizer.ggml.unknown_token_id", spm && n > 0 ? 0 : -1, n);
  v.eot = read_id(f, "tokenizer.ggml.eot_token_id", -1, n);
  v.eom = read_id(f, "tokenizer.ggml.eom_token_id", -1, n);
  const bool llama3 = v.pre == "llama3" || v.pre == "llama-v3" || v.pre == "llama-bpe" || v.pre == "falcon3";
  v.add_bos = f.get_bool("tokenizer.ggml.add_bos_token", spm || llama3);
  v.add_eos = f.get_bool("tokenizer.ggml.add_eos_token", false);
  v.add_space_prefix = f.get_bool("tokenizer.ggml.add_space_prefix", spm);
  if (v.add_bos && v.bos < 0) v.add_bos = false;

  // End of generation: the declared ids plus tokens recognized by their text, which also become control tokens.
  for (int32_t i = 0; i < n; ++i) {
    if (is_eog_text(v.tokens[i].text)) {
      v.eog.insert(i);
      v.tokens[i].control = true;
      if (v.eot < 0 && v.tokens[i].text != "<|eom_id|>") v.eot = i;
      if (v.eom < 0 && v.tokens[i].text == "<|eom_id|>") v.eom = i;
    }
  }
  for (int32_t id : {v.eos, v.eot, v.eom})
    if (id >= 0) v.eog.insert(id);

  for (int32_t i = 0; i < n; ++i) {
    const TokenInfo& t = v.tokens[i];
    if (t.control || t.type == TokenType::UserDefined || t.type == TokenType::Unknown) v.specials.push_back(i);
  }
  std::stable_sort(v.specials.begin(), v.specials.end(), [&](int32_t a, int32_t b) {
    return v.tokens[a].text.size() > v.tokens[b].text.size();
  });

  // Phi-3's added tokens swallow the whitespace that follows them (as its HF tokenizer does).
  const std::string name = lower(f.get_string("general.name"));
  if (name.find("phi-3") != std::string::npos || name.find("phi3") != std::string::npos) {
    for (int32_t id : v.specials) v.tokens[id].rstrip = true;
    if (int32_t id = v.find("</s>"); id >= 0) v.tokens[id].rstrip = true;
    for (const char* t : {"<unk>", "<s>", "<|endoftext|>"})
      if (int32_t id = v.find(t); id >= 0) v.tokens[id].rstrip = false;
  }
  return v;
}

}  // namespace hearth

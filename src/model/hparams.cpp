#include "model/hparams.h"

#include "gguf/gguf.h"
#include "hearth/error.h"

namespace hearth {
namespace {

int positive(const GgufFile& f, const std::string& key, uint64_t v) {
  if (v == 0 || v > (1u << 24)) throw Error(f.path() + ": " + key + " = " + std::to_string(v) + " is out of range");
  return static_cast<int>(v);
}

// How each architecture positions tokens (llama.cpp's rope types): NeoX pairs (i, i + n_rot/2), or learned
// position embeddings and no RoPE; the others rotate adjacent pairs.
bool neox_rope(const std::string& arch) {
  for (const char* a : {"qwen2", "qwen2moe", "qwen3", "qwen3moe", "phi3", "gemma", "gemma2", "gemma3", "falcon",
                        "gptneox", "stablelm", "starcoder2"})
    if (arch == a) return true;
  return false;
}
bool learned_positions(const std::string& arch) { return arch == "gpt2" || arch == "starcoder"; }
// LayerNorm architectures name their epsilon layer_norm_epsilon.
bool layer_norm_arch(const std::string& arch) {
  return arch == "gpt2" || arch == "starcoder" || arch == "falcon" || arch == "command-r";
}

}  // namespace

HParams hparams_from_gguf(const GgufFile& f) {
  HParams h;
  h.arch = f.require_string("general.architecture");
  const std::string a = h.arch + ".";
  auto req = [&](const char* k) { return positive(f, a + k, f.require_uint(a + k)); };
  h.n_embd = req("embedding_length");
  h.n_layer = req("block_count");
  h.n_head = req("attention.head_count");
  h.n_ff = req("feed_forward_length");
  h.n_ctx_train = positive(f, a + "context_length", f.get_uint(a + "context_length", 2048));
  h.n_head_kv = positive(f, a + "attention.head_count_kv", f.get_uint(a + "attention.head_count_kv", h.n_head));
  if (h.n_head % h.n_head_kv != 0)
    throw Error(f.path() + ": head_count " + std::to_string(h.n_head) + " is not a multiple of head_count_kv " +
                std::to_string(h.n_head_kv));
  h.head_dim = positive(f, a + "attention.key_length", f.get_uint(a + "attention.key_length", h.n_embd / h.n_head));
  h.n_rot = positive(f, a + "rope.dimension_count", f.get_uint(a + "rope.dimension_count", h.head_dim));
  if (h.n_rot > h.head_dim || h.n_rot % 2) throw Error(f.path() + ": rope.dimension_count is invalid");
  h.norm_eps = static_cast<float>(f.get_float(
      a + (layer_norm_arch(h.arch) ? "attention.layer_norm_epsilon" : "attention.layer_norm_rms_epsilon"), 1e-5));
  h.rope_neox = neox_rope(h.arch);
  if (learned_positions(h.arch)) h.n_rot = 0, h.n_pos = h.n_ctx_train;
  h.rope_freq_base = static_cast<float>(f.get_float(a + "rope.freq_base", 10000.0));
  h.rope_attn_factor = static_cast<float>(f.get_float(a + "rope.scaling.attn_factor", 1.0));
  h.n_ctx_orig = static_cast<int>(f.get_uint(a + "rope.scaling.original_context_length", h.n_ctx_train));
  std::string scaling = f.get_string(a + "rope.scaling.type", "none");
  if (scaling == "linear") {
    double factor = f.get_float(a + "rope.scaling.factor", 1.0);
    if (factor > 0) h.rope_freq_scale = static_cast<float>(1.0 / factor);
  }
  const uint64_t n_expert = f.get_uint(a + "expert_count", 0);
  if (n_expert > 0) {
    h.n_expert = positive(f, a + "expert_count", n_expert);
    h.n_expert_used = positive(f, a + "expert_used_count", f.get_uint(a + "expert_used_count", 0));
    if (h.n_expert_used > h.n_expert)
      throw Error(f.path() + ": expert_used_count " + std::to_string(h.n_expert_used) + " exceeds expert_count " +
                  std::to_string(h.n_expert));
    // As llama.cpp: without the key, Qwen's experts are n_ff / n_expert_used wide, Mixtral's and Granite's n_ff.
    const bool qwen = h.arch == "qwen2moe" || h.arch == "qwen3moe";
    const uint64_t ff_exp = qwen ? h.n_ff / h.n_expert_used : h.n_ff;
    h.n_ff_exp = positive(f, a + "expert_feed_forward_length", f.get_uint(a + "expert_feed_forward_length", ff_exp));
    // Qwen2-MoE always has a shared expert, n_ff wide unless the file says otherwise.
    const uint64_t shexp = f.get_uint(a + "expert_shared_feed_forward_length", h.arch == "qwen2moe" ? h.n_ff : 0);
    if (shexp > 0) h.n_ff_shexp = positive(f, a + "expert_shared_feed_forward_length", shexp);
    h.expert_weights_norm = h.arch != "qwen2moe";
  }
  // The vocabulary size comes from the tokenizer when the key is absent.
  h.n_vocab = static_cast<int>(f.get_uint(a + "vocab_size", f.get_array_strings("tokenizer.ggml.tokens").size()));
  return h;
}

}  // namespace hearth

// Hyperparameters of a decoder-only transformer, read from GGUF metadata ("{arch}.*" keys).
#pragma once
#include <string>
#include <vector>

namespace hearth {

class GgufFile;

struct HParams {
  std::string arch;           // general.architecture
  int n_vocab = 0;            // tokens
  int n_ctx_train = 0;        // context length the model was trained with
  int n_embd = 0;             // hidden size
  int n_layer = 0;            // transformer blocks
  int n_head = 0;             // query heads
  int n_head_kv = 0;          // key/value heads (GQA when < n_head)
  int n_ff = 0;               // feed-forward hidden size
  int head_dim = 0;           // n_embd / n_head unless the file says otherwise
  int n_rot = 0;              // rotated dims per head; 0: no RoPE (learned positions: GPT-2, StarCoder)
  float norm_eps = 1e-5f;     // RMSNorm or LayerNorm epsilon
  float rope_freq_base = 10000.0f;
  float rope_freq_scale = 1.0f;  // 1 / linear scaling factor
  float rope_attn_factor = 1.0f;  // rope.scaling.attn_factor: LongRoPE's scale of the rotated values
  int n_ctx_orig = 0;         // rope.scaling.original_context_length: LongRoPE's long factors beyond it
  bool rope_neox = false;     // NeoX pair ordering (GPT-NeoX, Falcon, Qwen2, Phi-3, Gemma)
  int n_expert = 0;           // mixture of experts: experts per layer (0: a dense FFN)
  int n_expert_used = 0;      // experts each token is routed to
  int n_ff_exp = 0;           // an expert's feed-forward size (n_ff unless the file says otherwise)
  int n_ff_shexp = 0;         // the shared expert's feed-forward size (Granite MoE, Qwen2-MoE); 0: none
  bool expert_weights_norm = true;  // the chosen experts' weights renormalized to sum 1 (not in Qwen2-MoE)
  int n_pos = 0;              // learned position embeddings: how many (the longest context); 0: RoPE, no limit
  int n_wide = 0;             // per-token floats of Activations::wide, set by the architecture (fused weights)

  int q_dim() const { return n_head * head_dim; }
  int kv_dim() const { return n_head_kv * head_dim; }
};

// Throws hearth::Error naming the missing or inconsistent key.
HParams hparams_from_gguf(const GgufFile& f);

}  // namespace hearth

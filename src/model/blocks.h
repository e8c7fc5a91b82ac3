// Shared transformer blocks written with backend ops, and the binding of their weights by GGUF name;
// architectures compose them. Optional weights (biases, fused matrices, per-head norms) are bound when the
// file has them and are empty Weights (present() false) otherwise.
#pragma once
#include <string>
#include <vector>

#include "backend/backend.h"
#include "model/architecture.h"
#include "model/hparams.h"
#include "model/moe.h"

namespace hearth {

class WeightStore;

inline bool present(const Weight& w) { return w.data != nullptr || w.packed != nullptr; }

enum class NormKind {
  Rms,          // RMSNorm
  Layer,        // LayerNorm with a bias (GPT-2, StarCoder, Falcon)
  LayerNoBias,  // LayerNorm without one (Command-R)
};

struct Norm {
  Weight w;            // [dim] F32
  Weight b;            // [dim] F32 bias (NormKind::Layer only)
  bool layer = false;  // LayerNorm (mean and variance); RMSNorm otherwise
};

struct AttentionWeights {
  Weight wqkv;        // [n_embd, q_dim + 2 kv_dim]: Q, K and V in one matrix (Falcon, GPT-2, Phi-3), or empty
  Weight bqkv;        // [q_dim + 2 kv_dim] or empty
  Weight wq;          // [n_embd, q_dim] (when not fused)
  Weight wk;          // [n_embd, kv_dim]
  Weight wv;          // [n_embd, kv_dim]
  Weight bq, bk, bv;  // [q_dim], [kv_dim], [kv_dim] biases (Qwen2) or empty
  Weight q_norm;      // [head_dim] RMSNorm of each query head before RoPE (Qwen3) or empty
  Weight k_norm;      // [head_dim] the same for keys
  Weight wo;          // [q_dim, n_embd]
  Weight bo;          // [n_embd] or empty
};

enum class FfnKind {
  SwiGlu,  // down(silu(gate(x)) * up(x))
  GeGlu,   // down(gelu(gate(x)) * up(x))
  Gelu,    // down(gelu(up(x)))
};

struct FfnWeights {
  FfnKind kind = FfnKind::SwiGlu;
  Weight gate;    // [n_embd, n_ff]; empty for Gelu, or when up holds both halves
  Weight up;      // [n_embd, n_ff], or [n_embd, 2 n_ff]: the gate's rows, then the up rows (Phi-3)
  Weight down;    // [n_ff, n_embd]
  Weight up_b;    // [n_ff] or empty
  Weight down_b;  // [n_embd] or empty
};

// A pre-norm block's weights: x += attn(norm(x)); x += ffn(norm(x)).
struct Block {
  Norm attn_norm;  // [n_embd]
  AttentionWeights attn;
  Norm ffn_norm;   // [n_embd]
  FfnWeights ffn;  // or, in a mixture of experts:
  MoeWeights moe;
  FfnWeights shared;  // a shared expert every token also goes through (Granite MoE, Qwen2-MoE), or empty
  Weight shared_gate;  // [n_embd] Qwen2-MoE: the shared expert's output times sigmoid(shared_gate . x), or empty
};

// "{prefix}.weight" and, for NormKind::Layer, "{prefix}.bias".
Norm bind_norm(WeightStore& ws, const std::string& prefix, int64_t dim, Backend& be, NormKind kind);
// The attention weights of block `p` ("blk.N."): attn_qkv or attn_q/k/v, their biases, attn_q_norm/attn_k_norm
// and attn_output with its bias, whichever the file has.
AttentionWeights bind_attention(WeightStore& ws, const std::string& p, const HParams& h, Backend& be);
// ffn_up, ffn_gate (absent: none, or fused into ffn_up when it is twice as long), ffn_down and their biases.
FfnWeights bind_ffn(WeightStore& ws, const std::string& p, const HParams& h, Backend& be, FfnKind kind);
// The per-token widths the blocks need beyond the usual buffers (Activations::wide): for fused weights.
int wide_dim(const AttentionWeights& a, const FfnWeights& f, const HParams& h);

// attn_norm, the attention weights, ffn_norm and the FFN (the experts when h.n_expert > 0) of block p.
Block bind_block(WeightStore& ws, const std::string& p, const HParams& h, Backend& be, NormKind norm, FfnKind kind);

void apply_norm(Backend& be, const Norm& norm, const float* x, float* y, int n_rows, int dim, float eps);
// What a few architectures change in the attention (Gemma 2/3): the score scale, a sliding window, soft-capped
// scores (AttentionParams).
struct AttentionOptions {
  float scale = 0;   // 0: 1 / sqrt(head_dim)
  int window = 0;
  float softcap = 0;
};

// Self-attention on in ([n_tokens, n_embd], already normalized) into out (may be in).
void attention_block(Backend& be, Activations& a, const AttentionWeights& w, const KvLayer& kv, const HParams& h,
                     const RopeParams& rope, int n_tokens, const float* in, float* out,
                     const AttentionOptions& opt = {});
// The feed-forward block on in into out (may be in).
void ffn_block(Backend& be, Activations& a, const FfnWeights& w, int n_tokens, const float* in, float* out);

struct BlockOptions {
  AttentionOptions attn;
  float residual_scale = 0;  // Granite: x += s * attn(...), x += s * ffn(...); 0: 1
};

// x += attn(norm(x)); x += ffn(norm(x)) on a.x.
void pre_norm_block(Backend& be, Activations& a, const Block& b, const KvLayer& kv, const HParams& h,
                    const RopeParams& rope, int n_tokens, const BlockOptions& opt = {});

RopeParams rope_params(const HParams& h, const float* freq_factors);
// The n_rot / 2 F32 values of a RoPE frequency-factor tensor, or none when the file does not have it.
std::vector<float> rope_factors(WeightStore& ws, const std::string& name, const HParams& h);

}  // namespace hearth

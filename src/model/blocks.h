// Shared transformer blocks written with backend ops; architectures compose them.
#pragma once
#include "backend/backend.h"
#include "model/architecture.h"
#include "model/hparams.h"

namespace hearth {

struct AttentionWeights {
  Weight wq;  // [n_embd, q_dim]
  Weight wk;  // [n_embd, kv_dim]
  Weight wv;  // [n_embd, kv_dim]
  Weight wo;  // [q_dim, n_embd]
};

struct FfnWeights {
  Weight gate;  // [n_embd, n_ff]
  Weight up;    // [n_embd, n_ff]
  Weight down;  // [n_ff, n_embd]
};

// Self-attention on a.xn (already normalized); result in a.xn.
void attention_block(Backend& be, Activations& a, const AttentionWeights& w, const KvLayer& kv, const HParams& h,
                     const RopeParams& rope, int n_tokens);
// SwiGLU feed-forward on a.xn; result in a.xn.
void ffn_swiglu_block(Backend& be, Activations& a, const FfnWeights& w, const HParams& h, int n_tokens);

RopeParams rope_params(const HParams& h, const float* freq_factors);

}  // namespace hearth

#include "model/blocks.h"

#include <cmath>

namespace hearth {

RopeParams rope_params(const HParams& h, const float* freq_factors) {
  RopeParams r;
  r.n_rot = h.n_rot;
  r.freq_base = h.rope_freq_base;
  r.freq_scale = h.rope_freq_scale;
  r.neox = h.rope_neox;
  r.freq_factors = freq_factors;
  return r;
}

void attention_block(Backend& be, Activations& a, const AttentionWeights& w, const KvLayer& kv, const HParams& h,
                     const RopeParams& rope, int n_tokens) {
  be.matmul(w.wq, a.xn, a.q, n_tokens);
  be.matmul(w.wk, a.xn, a.k, n_tokens);
  be.matmul(w.wv, a.xn, a.v, n_tokens);
  be.rope(a.q, n_tokens, h.n_head, h.head_dim, rope);
  be.rope(a.k, n_tokens, h.n_head_kv, h.head_dim, rope);
  be.kv_store(a.k, a.v, kv, n_tokens);
  AttentionParams ap;
  ap.n_head = h.n_head;
  ap.n_head_kv = h.n_head_kv;
  ap.head_dim = h.head_dim;
  ap.scale = 1.0f / std::sqrt(static_cast<float>(h.head_dim));
  be.attention(a.q, kv, n_tokens, a.att, ap);
  be.matmul(w.wo, a.att, a.xn, n_tokens);
}

void ffn_swiglu_block(Backend& be, Activations& a, const FfnWeights& w, const HParams& h, int n_tokens) {
  be.matmul(w.gate, a.xn, a.gate, n_tokens);
  be.matmul(w.up, a.xn, a.up, n_tokens);
  be.swiglu(a.gate, a.up, a.gate, static_cast<size_t>(n_tokens) * h.n_ff);
  be.matmul(w.down, a.gate, a.xn, n_tokens);
}

}  // namespace hearth

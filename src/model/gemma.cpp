// Gemma 1, 2 and 3: Llama-like blocks with GeGLU, embeddings scaled by sqrt(n_embd) and the head tied to the
// embedding table (the converter stores every norm weight as 1 + w, so the norms are plain RMSNorms).
//   gemma   Gemma 1
//   gemma2  + an RMSNorm after the attention and after the FFN (before each residual add), soft-capped attention
//           scores and logits, every other layer (even ones) attending to a sliding window
//   gemma3  + RMSNorm of each query and key head; five local layers (sliding window, RoPE base 10000 unscaled)
//           to one global layer (the file's RoPE base and scaling); no soft-capping
// The 27B models scale queries by 1/sqrt(n_embd / n_head) instead of 1/sqrt(head_dim).
#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "gguf/gguf.h"
#include "model/decoder.h"
#include "model/weight_store.h"
#include "placement/plan.h"

namespace hearth {
namespace {

struct GemmaLayer {
  Block block;           // attn_norm, attention (with Q/K norms in Gemma 3), ffn_norm, GeGLU FFN
  Norm post_attn_norm;   // [n_embd] Gemma 2/3, else empty
  Norm post_ffn_norm;    // [n_embd] Gemma 2/3, else empty
  bool local = false;    // sliding-window attention with the local RoPE
};

class Gemma final : public Decoder {
 public:
  Gemma(const GgufFile& f, const HParams& h, WeightStore& ws, const PlacementPlan& plan) : Decoder(h, plan) {
    const std::string a = h.arch + ".";
    const bool v2 = h.arch == "gemma2", v3 = h.arch == "gemma3";
    bind_io(ws, NormKind::Rms);
    int window = 0, period = 0;
    if (v2) {
      window = static_cast<int>(f.get_uint(a + "attention.sliding_window", 4096));
      period = static_cast<int>(f.get_uint(a + "attention.sliding_window_pattern", 2));
      attn_.softcap = static_cast<float>(f.get_float(a + "attn_logit_softcapping", 50.0));
      final_softcap_ = static_cast<float>(f.get_float(a + "final_logit_softcapping", 30.0));
    } else if (v3) {
      window = static_cast<int>(f.get_uint(a + "attention.sliding_window", 0));
      period = window > 0 ? 6 : 0;
      // As llama.cpp: Gemma 3 soft-caps logits only when it has no sliding window.
      if (window == 0) final_softcap_ = static_cast<float>(f.get_float(a + "final_logit_softcapping", 0.0));
    }
    const bool big = (v2 && h.n_layer == 46) || (v3 && h.n_layer == 62);  // the 27B models
    attn_.scale = 1.0f / std::sqrt(static_cast<float>(big ? h.n_embd / h.n_head : h.head_dim));
    local_ = attn_;
    local_.window = window;

    layers_.resize(h.n_layer);
    for_each_layer([&](int l, const std::string& p, Backend& be) {
      GemmaLayer& L = layers_[l];
      L.block = bind_block(ws, p, h_, be, NormKind::Rms, FfnKind::GeGlu);
      if (v2 || v3) {
        L.post_attn_norm = bind_norm(ws, p + "post_attention_norm", h.n_embd, be, NormKind::Rms);
        L.post_ffn_norm = bind_norm(ws, p + "post_ffw_norm", h.n_embd, be, NormKind::Rms);
      }
      // Period P: layers with l % P < P - 1 are local (Gemma 2: the even ones).
      L.local = period > 0 && l % period < period - 1;
    });
    rope_ = rope_params(h_, nullptr);
    local_rope_ = rope_;
    if (v2) {
      local_rope_.freq_base = static_cast<float>(f.get_float(a + "rope.freq_base_swa", h.rope_freq_base));
    } else if (v3) {
      local_rope_.freq_base = 10000.0f;
      local_rope_.freq_scale = 1.0f;
    }
  }

 private:
  void embed(Backend& cpu, Activations& a, const ForwardPass& pass) override {
    cpu.scale(a.x, std::sqrt(static_cast<float>(h_.n_embd)), static_cast<size_t>(pass.n_tokens) * h_.n_embd);
  }

  void finish_logits(float* logits, size_t n) override {
    if (final_softcap_ > 0)  // on the host: a few rows of n_vocab values
      for (size_t i = 0; i < n; ++i) logits[i] = final_softcap_ * std::tanh(logits[i] / final_softcap_);
  }

  void layer(Backend& be, Activations& a, int l, const KvLayer& kv, int n) override {
    const GemmaLayer& L = layers_[l];
    const size_t size = static_cast<size_t>(n) * h_.n_embd;
    apply_norm(be, L.block.attn_norm, a.x, a.xn, n, h_.n_embd, h_.norm_eps);
    attention_block(be, a, L.block.attn, kv, h_, L.local ? local_rope_ : rope_, n, a.xn, a.xn,
                    L.local ? local_ : attn_);
    if (present(L.post_attn_norm.w)) apply_norm(be, L.post_attn_norm, a.xn, a.xn, n, h_.n_embd, h_.norm_eps);
    be.add(a.x, a.xn, size);
    apply_norm(be, L.block.ffn_norm, a.x, a.xn, n, h_.n_embd, h_.norm_eps);
    ffn_block(be, a, L.block.ffn, n, a.xn, a.xn);
    if (present(L.post_ffn_norm.w)) apply_norm(be, L.post_ffn_norm, a.xn, a.xn, n, h_.n_embd, h_.norm_eps);
    be.add(a.x, a.xn, size);
  }

  std::vector<GemmaLayer> layers_;
  AttentionOptions attn_, local_;  // global and local (sliding-window) layers
  float final_softcap_ = 0;        // logits l become c * tanh(l / c) (Gemma 2); 0: none
  RopeParams rope_, local_rope_;
};

}  // namespace

std::unique_ptr<Architecture> make_gemma(const GgufFile& f, const HParams& h, WeightStore& ws,
                                         const PlacementPlan& plan) {
  return std::make_unique<Gemma>(f, h, ws, plan);
}

}  // namespace hearth

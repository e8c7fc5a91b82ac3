// The Llama family: pre-norm blocks of RMSNorm -> GQA self-attention with RoPE -> RMSNorm -> gated FFN, as
// llama.cpp's converter writes them. One class serves the architectures that differ only in which optional
// weights their files hold and in small fixed choices:
//   llama   Llama 1/2/3/3.1/3.2, Mistral, Yi, Vicuna, TinyLlama...; SwiGLU; Llama 3.1 rope_freqs
//   qwen2   Qwen2 / Qwen2.5: biases on Q, K and V; NeoX RoPE (qwen2moe: with experts whose weights are not
//           renormalized, and a shared expert behind a sigmoid gate)
//   qwen3   Qwen3: RMSNorm of each query and key head before RoPE; NeoX RoPE (qwen3moe: with experts)
//   phi3    Phi-3 / Phi-3.5 / Phi-4-mini: Q, K, V in one matrix and gate+up in one; NeoX RoPE, LongRoPE factors
//   granite Granite 3 (granitemoe: with experts, and a shared one): the embeddings, each block's outputs and the
//           logits scaled by the file's factors, its own attention scale
// A file with experts (Mixtral, Qwen2/3-MoE, Granite MoE) has a mixture of experts in place of each FFN
// (model/moe.h).
#include <algorithm>
#include <string>
#include <vector>

#include "gguf/gguf.h"
#include "hearth/error.h"
#include "model/decoder.h"
#include "model/weight_store.h"
#include "placement/plan.h"

namespace hearth {
namespace {

class Llama final : public Decoder {
 public:
  Llama(const GgufFile& f, const HParams& h, WeightStore& ws, const PlacementPlan& plan) : Decoder(h, plan) {
    bind_io(ws, NormKind::Rms);
    if (h.arch == "granite" || h.arch == "granitemoe") {
      const std::string a = h.arch + ".";
      embedding_scale_ = static_cast<float>(f.get_float(a + "embedding_scale", 0.0));
      opt_.residual_scale = static_cast<float>(f.get_float(a + "residual_scale", 0.0));
      opt_.attn.scale = static_cast<float>(f.get_float(a + "attention.scale", 0.0));
      logit_scale_ = static_cast<float>(f.get_float(a + "logit_scale", 0.0));
    }
    layers_.resize(h.n_layer);
    for_each_layer([&](int l, const std::string& p, Backend& be) {
      layers_[l] = bind_block(ws, p, h_, be, NormKind::Rms, FfnKind::SwiGlu);
      h_.n_wide = std::max(h_.n_wide, wide_dim(layers_[l].attn, layers_[l].ffn, h_));
    });
    // Per-frequency divisors: Llama 3.1's rope scaling, or LongRoPE's (Phi-3 128k, Phi-3.5, Phi-4-mini) short
    // factors, and its long ones for a context beyond the original one.
    freq_factors_ = rope_factors(ws, "rope_freqs.weight", h);
    if (freq_factors_.empty()) freq_factors_ = rope_factors(ws, "rope_factors_short.weight", h);
    long_factors_ = rope_factors(ws, "rope_factors_long.weight", h);
    rope_ = rope_params(h_, freq_factors_.empty() ? nullptr : freq_factors_.data());
    rope_long_ = rope_params(h_, long_factors_.empty() ? nullptr : long_factors_.data());
  }

 private:
  void layer(Backend& be, Activations& a, int l, const KvLayer& kv, int n) override {
    // As llama.cpp, the long factors serve a context (per sequence) longer than the original one.
    const bool long_ctx = !long_factors_.empty() && kv.n_ctx > h_.n_ctx_orig;
    pre_norm_block(be, a, layers_[l], kv, h_, long_ctx ? rope_long_ : rope_, n, opt_);
  }

  void embed(Backend& cpu, Activations& a, const ForwardPass& pass) override {
    if (embedding_scale_ != 0) cpu.scale(a.x, embedding_scale_, static_cast<size_t>(pass.n_tokens) * h_.n_embd);
  }

  void finish_logits(float* logits, size_t n) override {
    if (logit_scale_ != 0)
      for (size_t i = 0; i < n; ++i) logits[i] /= logit_scale_;
  }

  std::vector<Block> layers_;
  std::vector<float> freq_factors_;  // [n_rot / 2] or empty
  std::vector<float> long_factors_;  // [n_rot / 2] or empty
  RopeParams rope_, rope_long_;
  BlockOptions opt_;            // Granite: the residual and attention scales
  float embedding_scale_ = 0;   // Granite: x *= it after the lookup; 0: none
  float logit_scale_ = 0;       // Granite: logits /= it; 0: none
};

}  // namespace

std::unique_ptr<Architecture> make_llama(const GgufFile& f, const HParams& h, WeightStore& ws,
                                         const PlacementPlan& plan) {
  return std::make_unique<Llama>(f, h, ws, plan);
}

}  // namespace hearth

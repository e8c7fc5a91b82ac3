// The Llama family: pre-norm blocks of RMSNorm -> GQA self-attention with RoPE -> RMSNorm -> gated FFN, as
// llama.cpp's converter writes them. One class serves the architectures that differ only in which optional
// weights their files hold and in small fixed choices:
//   llama   Llama 1/2/3/3.1/3.2, Mistral, Yi, Vicuna, TinyLlama...; SwiGLU; Llama 3.1 rope_freqs
//   qwen2   Qwen2 / Qwen2.5: biases on Q, K and V; NeoX RoPE
//   qwen3   Qwen3: RMSNorm of each query and key head before RoPE; NeoX RoPE (qwen3moe: with experts)
// A file with experts (Mixtral, Qwen3-MoE) has a mixture of experts in place of each FFN (model/moe.h).
//   phi3    Phi-3: Q, K, V in one matrix and gate+up in one; NeoX RoPE
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
  Llama(const HParams& h, WeightStore& ws, const PlacementPlan& plan) : Decoder(h, plan) {
    bind_io(ws, false);
    layers_.resize(h.n_layer);
    for_each_layer([&](int l, const std::string& p, Backend& be) {
      layers_[l] = bind_block(ws, p, h_, be, false, FfnKind::SwiGlu);
      h_.n_wide = std::max(h_.n_wide, wide_dim(layers_[l].attn, layers_[l].ffn, h_));
    });
    // Llama 3.1 rope scaling: per-frequency divisors.
    if (const GgufTensor* t = ws.find("rope_freqs.weight")) {
      if (t->type != DType::F32 || t->n_elements() != h.n_rot / 2)
        throw Error("tensor rope_freqs.weight: expected " + std::to_string(h.n_rot / 2) + " f32 values, file has " +
                    t->shape_str());
      freq_factors_.assign(reinterpret_cast<const float*>(t->data),
                           reinterpret_cast<const float*>(t->data) + h.n_rot / 2);
    }
    if (ws.has("blk.0.rope_factors_long.weight") || ws.has("rope_factors_long.weight"))
      throw Error("this " + h.arch + " model uses LongRoPE scaling (rope_factors_long), which hearth does not run yet");
    rope_ = rope_params(h_, freq_factors_.empty() ? nullptr : freq_factors_.data());
  }

 private:
  void layer(Backend& be, Activations& a, int l, const KvLayer& kv, int n) override {
    pre_norm_block(be, a, layers_[l], kv, h_, rope_, n);
  }

  std::vector<Block> layers_;
  std::vector<float> freq_factors_;  // [n_rot / 2] or empty
  RopeParams rope_;
};

}  // namespace

std::unique_ptr<Architecture> make_llama(const GgufFile&, const HParams& h, WeightStore& ws, const PlacementPlan& plan) {
  return std::make_unique<Llama>(h, ws, plan);
}

}  // namespace hearth

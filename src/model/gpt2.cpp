// GPT-2 and StarCoder (gpt_bigcode): learned position embeddings added to the token embeddings, pre-norm
// blocks of LayerNorm -> self-attention (Q, K, V in one matrix, biases everywhere, no RoPE; StarCoder with
// one K/V head) -> LayerNorm -> GELU FFN with biases, and a final LayerNorm.
#include <algorithm>
#include <string>
#include <vector>

#include "model/decoder.h"
#include "model/weight_store.h"
#include "placement/plan.h"

namespace hearth {
namespace {

class Gpt2 final : public Decoder {
 public:
  Gpt2(const HParams& h, WeightStore& ws, const PlacementPlan& plan) : Decoder(h, plan) {
    bind_io(ws, NormKind::Layer);
    if (plan.input) pos_embd_ = ws.get("position_embd.weight", {h.n_embd, h.n_ctx_train}, *plan.backends[0]);
    layers_.resize(h.n_layer);
    for_each_layer([&](int l, const std::string& p, Backend& be) {
      layers_[l] = bind_block(ws, p, h_, be, NormKind::Layer, FfnKind::Gelu);
      h_.n_wide = std::max(h_.n_wide, wide_dim(layers_[l].attn, layers_[l].ffn, h_));
    });
    rope_ = rope_params(h_, nullptr);  // n_rot is 0: no rotation
  }

 private:
  void embed(Backend& cpu, Activations& a, const ForwardPass& pass) override {
    // The table has n_ctx_train rows; get_rows rejects a position beyond it.
    cpu.get_rows(pos_embd_, pass.pos, pass.n_tokens, a.y);
    cpu.add(a.x, a.y, static_cast<size_t>(pass.n_tokens) * h_.n_embd);
  }

  void layer(Backend& be, Activations& a, int l, const KvLayer& kv, int n) override {
    pre_norm_block(be, a, layers_[l], kv, h_, rope_, n);
  }

  Weight pos_embd_;  // [n_embd, n_ctx_train] on the CPU
  std::vector<Block> layers_;
  RopeParams rope_;
};

}  // namespace

std::unique_ptr<Architecture> make_gpt2(const GgufFile&, const HParams& h, WeightStore& ws, const PlacementPlan& plan) {
  return std::make_unique<Gpt2>(h, ws, plan);
}

}  // namespace hearth

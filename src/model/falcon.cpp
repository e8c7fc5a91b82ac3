// Falcon (7B/40B/180B): parallel blocks. The attention and the FFN both read the LayerNorm of the block's
// input and both add to it: x += attn(ln(x)) + ffn(ln(x)). Falcon-40B/180B normalize the attention's input
// with a second LayerNorm (attn_norm_2). Q, K, V in one matrix (multi-query or grouped K/V heads), NeoX RoPE,
// a GELU FFN without gate or biases.
#include <algorithm>
#include <string>
#include <vector>

#include "model/decoder.h"
#include "model/weight_store.h"
#include "placement/plan.h"

namespace hearth {
namespace {

struct FalconLayer {
  Norm attn_norm;    // [n_embd] LayerNorm of the FFN's input (and the attention's in 7B)
  Norm attn_norm_2;  // [n_embd] LayerNorm of the attention's input (40B, 180B), or empty
  AttentionWeights attn;
  FfnWeights ffn;
};

class Falcon final : public Decoder {
 public:
  Falcon(const HParams& h, WeightStore& ws, const PlacementPlan& plan) : Decoder(h, plan) {
    bind_io(ws, true);
    layers_.resize(h.n_layer);
    for_each_layer([&](int l, const std::string& p, Backend& be) {
      FalconLayer& L = layers_[l];
      L.attn_norm = bind_norm(ws, p + "attn_norm", h.n_embd, be, true);
      if (ws.has(p + "attn_norm_2.weight")) L.attn_norm_2 = bind_norm(ws, p + "attn_norm_2", h.n_embd, be, true);
      L.attn = bind_attention(ws, p, h_, be);
      L.ffn = bind_ffn(ws, p, h_, be, FfnKind::Gelu);
      h_.n_wide = std::max(h_.n_wide, wide_dim(L.attn, L.ffn, h_));
    });
    rope_ = rope_params(h_, nullptr);
  }

 private:
  void layer(Backend& be, Activations& a, int l, const KvLayer& kv, int n) override {
    const FalconLayer& L = layers_[l];
    const int E = h_.n_embd;
    apply_norm(be, L.attn_norm, a.x, a.xn, n, E, h_.norm_eps);
    const float* attn_in = a.xn;
    if (present(L.attn_norm_2.w)) {
      apply_norm(be, L.attn_norm_2, a.x, a.y, n, E, h_.norm_eps);
      attn_in = a.y;
    }
    attention_block(be, a, L.attn, kv, h_, rope_, n, attn_in, a.y);
    ffn_block(be, a, L.ffn, n, a.xn, a.xn);
    be.add(a.x, a.y, static_cast<size_t>(n) * E);
    be.add(a.x, a.xn, static_cast<size_t>(n) * E);
  }

  std::vector<FalconLayer> layers_;
  RopeParams rope_;
};

}  // namespace

std::unique_ptr<Architecture> make_falcon(const GgufFile&, const HParams& h, WeightStore& ws,
                                          const PlacementPlan& plan) {
  return std::make_unique<Falcon>(h, ws, plan);
}

}  // namespace hearth

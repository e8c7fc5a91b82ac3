// Parallel blocks: the attention and the FFN both read the LayerNorm of the block's input and both add to it,
// x += attn(ln(x)) + ffn(ln(x)).
//   falcon     Falcon 7B/40B/180B: LayerNorms with biases (40B/180B normalize the attention's input with a
//              second one, attn_norm_2); Q, K, V in one matrix; NeoX RoPE; a GELU FFN
//   command-r  Command-R: LayerNorms without biases; separate Q, K, V (biases when the file has them); SwiGLU;
//              the head tied to the embeddings and its logits multiplied by logit_scale
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

struct ParallelLayer {
  Norm attn_norm;    // [n_embd] LayerNorm of the FFN's input (and the attention's, unless attn_norm_2)
  Norm attn_norm_2;  // [n_embd] LayerNorm of the attention's input (Falcon 40B, 180B), or empty
  AttentionWeights attn;
  FfnWeights ffn;
};

class Parallel final : public Decoder {
 public:
  Parallel(const GgufFile& f, const HParams& h, WeightStore& ws, const PlacementPlan& plan) : Decoder(h, plan) {
    const bool falcon = h.arch == "falcon";
    const NormKind norm = falcon ? NormKind::Layer : NormKind::LayerNoBias;
    if (!falcon) logit_scale_ = static_cast<float>(f.get_float(h.arch + ".logit_scale", 0.0));
    bind_io(ws, norm);
    layers_.resize(h.n_layer);
    for_each_layer([&](int l, const std::string& p, Backend& be) {
      ParallelLayer& L = layers_[l];
      L.attn_norm = bind_norm(ws, p + "attn_norm", h.n_embd, be, norm);
      if (ws.has(p + "attn_norm_2.weight")) L.attn_norm_2 = bind_norm(ws, p + "attn_norm_2", h.n_embd, be, norm);
      L.attn = bind_attention(ws, p, h_, be);
      if (present(L.attn.q_norm))  // Command-R+: a LayerNorm per head, with weights per head
        throw Error("tensor " + p + "attn_q_norm.weight: per-head Q/K LayerNorms (Command-R+) are not supported yet");
      L.ffn = bind_ffn(ws, p, h_, be, falcon ? FfnKind::Gelu : FfnKind::SwiGlu);
      h_.n_wide = std::max(h_.n_wide, wide_dim(L.attn, L.ffn, h_));
    });
    rope_ = rope_params(h_, nullptr);
  }

 private:
  void layer(Backend& be, Activations& a, int l, const KvLayer& kv, int n) override {
    const ParallelLayer& L = layers_[l];
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

  void finish_logits(float* logits, size_t n) override {
    if (logit_scale_ != 0)
      for (size_t i = 0; i < n; ++i) logits[i] *= logit_scale_;
  }

  std::vector<ParallelLayer> layers_;
  RopeParams rope_;
  float logit_scale_ = 0;  // Command-R: logits *= it; 0: none
};

}  // namespace

std::unique_ptr<Architecture> make_parallel(const GgufFile& f, const HParams& h, WeightStore& ws,
                                            const PlacementPlan& plan) {
  return std::make_unique<Parallel>(f, h, ws, plan);
}

}  // namespace hearth

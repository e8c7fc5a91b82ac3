// The Llama architecture (Llama 1/2/3/3.1/3.2, Mistral, Yi, Vicuna, TinyLlama... as llama.cpp writes them):
// pre-norm blocks of RMSNorm -> GQA self-attention with RoPE -> RMSNorm -> SwiGLU FFN.
#include <string>
#include <vector>

#include "gguf/gguf.h"
#include "hearth/error.h"
#include "model/architecture.h"
#include "model/blocks.h"
#include "model/weight_store.h"
#include "placement/plan.h"
#include "quant/quant.h"

namespace hearth {
namespace {

struct LlamaLayer {
  Weight attn_norm;  // [n_embd]
  AttentionWeights attn;
  Weight ffn_norm;   // [n_embd]
  FfnWeights ffn;
};

class Llama final : public Architecture {
 public:
  Llama(const GgufFile& f, const HParams& h, WeightStore& ws, const PlacementPlan& plan) : h_(h), plan_(plan) {
    const int64_t E = h.n_embd, Q = h.q_dim(), KV = h.kv_dim(), F = h.n_ff, V = h.n_vocab;
    Backend& cpu = *plan.backends[0];
    Backend& out = *plan.backends[plan.output_backend];
    // A pipeline stage binds only its part: embeddings, its layer range, the head.
    if (plan.input) tok_embd_ = ws.get("token_embd.weight", {E, V}, cpu);
    layers_.resize(h.n_layer);
    for (int l = plan.layer_begin; l < plan.end(h.n_layer); ++l) {
      if (!plan.holds(l, h.n_layer)) continue;
      Backend& be = *plan.backends[plan.layer_backend[l]];
      const std::string p = "blk." + std::to_string(l) + ".";
      LlamaLayer& L = layers_[l];
      L.attn_norm = ws.get(p + "attn_norm.weight", {E}, be);
      L.attn.wq = ws.matrix(p + "attn_q.weight", {E, Q}, be);
      L.attn.wk = ws.matrix(p + "attn_k.weight", {E, KV}, be);
      L.attn.wv = ws.matrix(p + "attn_v.weight", {E, KV}, be);
      L.attn.wo = ws.matrix(p + "attn_output.weight", {Q, E}, be);
      L.ffn_norm = ws.get(p + "ffn_norm.weight", {E}, be);
      L.ffn.gate = ws.matrix(p + "ffn_gate.weight", {E, F}, be);
      L.ffn.up = ws.matrix(p + "ffn_up.weight", {E, F}, be);
      L.ffn.down = ws.matrix(p + "ffn_down.weight", {F, E}, be);
      for (const Weight* n : {&L.attn_norm, &L.ffn_norm})
        if (n->type != DType::F32) throw Error("tensor " + p + "*_norm.weight: expected type f32");
    }
    if (plan.output) {
      output_norm_ = ws.get("output_norm.weight", {E}, out);
      // Tied embeddings: the head is the embedding table when output.weight is absent.
      output_ = ws.matrix(ws.has("output.weight") ? "output.weight" : "token_embd.weight", {E, V}, out);
    }
    // Llama 3.1 rope scaling: per-frequency divisors.
    (void)f;
    if (const GgufTensor* t = ws.find("rope_freqs.weight")) {
      if (t->type != DType::F32 || t->n_elements() != h.n_rot / 2)
        throw Error("tensor rope_freqs.weight: expected " + std::to_string(h.n_rot / 2) + " f32 values, file has " +
                    t->shape_str());
      freq_factors_.assign(reinterpret_cast<const float*>(t->data),
                           reinterpret_cast<const float*>(t->data) + h.n_rot / 2);
    }
    rope_ = rope_params(h, freq_factors_.empty() ? nullptr : freq_factors_.data());
  }

  const HParams& hparams() const override { return h_; }

  void forward(ForwardPass& pass) override {
    const int n = pass.n_tokens;
    const size_t hidden_bytes = static_cast<size_t>(n) * h_.n_embd * sizeof(float);
    for (Backend* be : plan_.backends) be->set_batch(pass.pos, pass.seq, n);

    // Embedding lookup on the CPU (from the mapping), or the hidden state from the previous pipeline stage;
    // then to wherever the first layer runs.
    Activations& cpu_act = (*pass.acts)[0];
    if (pass.hidden_in)
      plan_.backends[0]->to_device(cpu_act.x, pass.hidden_in, hidden_bytes);
    else if (plan_.input)
      plan_.backends[0]->get_rows(tok_embd_, pass.tokens, n, cpu_act.x);
    else
      throw Error("pipeline stage without input: the forward pass needs the hidden state");
    int cur = 0;
    if (pass.lap < 0 || pass.lap >= plan_.n_laps())
      throw Error("forward pass: lap " + std::to_string(pass.lap) + " of " + std::to_string(plan_.n_laps()));
    const auto [first, last] = plan_.lap_range(pass.lap, h_.n_layer);
    for (int l = first; l < last; ++l) {
      if (pass.observer) pass.observer->before_layer(l);
      cur = move_hidden(pass, cur, plan_.layer_backend[l], hidden_bytes);
      Backend& be = *plan_.backends[cur];
      Activations& a = (*pass.acts)[cur];
      const LlamaLayer& L = layers_[l];
      be.rms_norm(a.x, L.attn_norm, a.xn, n, h_.n_embd, h_.norm_eps);
      attention_block(be, a, L.attn, (*pass.kv)[l], h_, rope_, n);
      be.add(a.x, a.xn, static_cast<size_t>(n) * h_.n_embd);
      be.rms_norm(a.x, L.ffn_norm, a.xn, n, h_.n_embd, h_.norm_eps);
      ffn_swiglu_block(be, a, L.ffn, h_, n);
      be.add(a.x, a.xn, static_cast<size_t>(n) * h_.n_embd);
      if (pass.observer) pass.observer->after_layer(l);
    }
    if (pass.hidden_out || !plan_.output || pass.lap + 1 < plan_.n_laps()) {
      if (!pass.hidden_out) throw Error("pipeline stage without output: the forward pass needs hidden_out");
      plan_.backends[cur]->to_host(pass.hidden_out, (*pass.acts)[cur].x, hidden_bytes);
      return;
    }
    cur = move_hidden(pass, cur, plan_.output_backend, hidden_bytes);
    Backend& be = *plan_.backends[cur];
    Activations& a = (*pass.acts)[cur];
    be.rms_norm(a.x, output_norm_, a.xn, n, h_.n_embd, h_.norm_eps);
    if (pass.embd_out) be.to_host(pass.embd_out, a.xn, hidden_bytes);
    if (pass.logit_rows.empty()) return;
    // Logits only for the wanted rows, one matmul per contiguous run of rows.
    const auto& rows = pass.logit_rows;
    size_t i = 0, done = 0;
    while (i < rows.size()) {
      size_t j = i + 1;
      while (j < rows.size() && rows[j] == rows[j - 1] + 1) ++j;
      int run = static_cast<int>(j - i);
      be.matmul(output_, a.xn + static_cast<size_t>(rows[i]) * h_.n_embd, a.logits + done * h_.n_vocab, run);
      done += run;
      i = j;
    }
    be.to_host(pass.logits_out, a.logits, done * h_.n_vocab * sizeof(float));
  }

 private:
  // Moves the hidden state from backend `from` to backend `to` through host memory; returns `to`.
  int move_hidden(ForwardPass& pass, int from, int to, size_t bytes) {
    if (from == to) return to;
    Activations& src = (*pass.acts)[from];
    Activations& dst = (*pass.acts)[to];
    staging_.resize(bytes / sizeof(float));
    plan_.backends[from]->to_host(staging_.data(), src.x, bytes);
    plan_.backends[to]->to_device(dst.x, staging_.data(), bytes);
    return to;
  }

  HParams h_;
  const PlacementPlan& plan_;
  Weight tok_embd_;     // [n_embd, n_vocab] on the CPU
  std::vector<LlamaLayer> layers_;
  Weight output_norm_;  // [n_embd]
  Weight output_;       // [n_embd, n_vocab]
  std::vector<float> freq_factors_;
  RopeParams rope_;
  std::vector<float> staging_;
};

}  // namespace

std::unique_ptr<Architecture> make_llama(const GgufFile& f, const HParams& h, WeightStore& ws,
                                         const PlacementPlan& plan) {
  return std::make_unique<Llama>(f, h, ws, plan);
}

}  // namespace hearth

// The forward pass every decoder-only architecture shares: the token embeddings (looked up on the CPU from the
// mapping) or a pipeline stage's hidden state in; each layer of the plan's range on its backend, with the hidden
// state moved between backends through host memory; then the output norm and the head for the wanted rows.
// An architecture binds its weights and writes its block (layer()); the rest is here.
#pragma once
#include <string>
#include <vector>

#include "model/architecture.h"
#include "model/blocks.h"
#include "placement/plan.h"

namespace hearth {

class Decoder : public Architecture {
 public:
  const HParams& hparams() const override { return h_; }
  void forward(ForwardPass& pass) final;

 protected:
  Decoder(const HParams& h, const PlacementPlan& plan) : h_(h), plan_(plan) {}

  // One block on n tokens: a.x is the hidden state on be, updated in place.
  virtual void layer(Backend& be, Activations& a, int l, const KvLayer& kv, int n) = 0;
  // After the token lookup on the first stage (a: the CPU's activations, a.x filled): position embeddings,
  // scaling. None by default.
  virtual void embed(Backend& cpu, Activations& a, const ForwardPass& pass) { (void)cpu, (void)a, (void)pass; }
  // The n logits the head wrote to the host, before anyone reads them: soft-capping (Gemma 2), scaling (Granite).
  virtual void finish_logits(float* logits, size_t n) { (void)logits, (void)n; }

  // Binds token_embd (on the stage with input), the output norm (`output_norm.weight`, and its bias for
  // NormKind::Layer) and the head (`output.weight`, or the embedding table when the file ties them).
  void bind_io(WeightStore& ws, NormKind norm);
  // Calls f(layer, "blk.N.", backend) for every layer this part of the model holds.
  template <class F>
  void for_each_layer(F&& f);

  HParams h_;
  const PlacementPlan& plan_;
  Weight tok_embd_;  // [n_embd, n_vocab] on the CPU
  Norm output_norm_;
  Weight output_;    // [n_embd, n_vocab]

 private:
  int move_hidden(ForwardPass& pass, int from, int to, size_t bytes);
  void head(ForwardPass& pass, Backend& be, Activations& a);
  std::vector<float> staging_;
};

template <class F>
void Decoder::for_each_layer(F&& f) {
  for (int l = plan_.layer_begin; l < plan_.end(h_.n_layer); ++l)
    if (plan_.holds(l, h_.n_layer)) f(l, "blk." + std::to_string(l) + ".", *plan_.backends[plan_.layer_backend[l]]);
}

}  // namespace hearth

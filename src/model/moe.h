// Mixture-of-experts feed-forward (Mixtral, Qwen3-MoE): a router scores the experts for each token; the token
// goes through its n_expert_used best, and their outputs are summed with the router's softmax weights,
// renormalized over the chosen experts (llama.cpp's softmax gating with norm_w).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "backend/backend.h"
#include "model/architecture.h"
#include "model/hparams.h"

namespace hearth {

class WeightStore;

struct MoeWeights {
  Weight router;              // [n_embd, n_expert] (ffn_gate_inp)
  std::vector<Weight> gate;   // per expert [n_embd, n_ff_exp] (slices of ffn_gate_exps)
  std::vector<Weight> up;     // per expert [n_embd, n_ff_exp]
  std::vector<Weight> down;   // per expert [n_ff_exp, n_embd]
  bool empty() const { return gate.empty(); }
};

// The tokens routed to each expert, with their weights.
struct Routing {
  std::vector<std::vector<int32_t>> tokens;  // [n_expert] token indices, ascending
  std::vector<std::vector<float>> weights;   // [n_expert] the weight of each of those tokens
};

// From router scores [n_tokens, n_expert] (host): softmax per token, its k best experts (ties: the lower index),
// their probabilities, divided by their sum when normalize (all but Qwen2-MoE).
Routing route_tokens(const float* scores, int n_tokens, int n_expert, int k, bool normalize = true);

MoeWeights bind_moe(WeightStore& ws, const std::string& p, const HParams& h, Backend& be);
// x += scale * the experts' weighted outputs for in ([n_tokens, n_embd], normalized; left unchanged). Reads the
// router's scores back to the host (a synchronization) to route.
void moe_block(Backend& be, Activations& a, const MoeWeights& w, const HParams& h, int n_tokens, const float* in,
               float* x, float scale = 1.0f);

}  // namespace hearth

#include "model/moe.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "hearth/error.h"
#include "model/weight_store.h"

namespace hearth {

Routing route_tokens(const float* scores, int n_tokens, int n_expert, int k, bool normalize) {
  Routing r;
  r.tokens.resize(n_expert);
  r.weights.resize(n_expert);
  std::vector<float> p(n_expert);
  std::vector<int> order(n_expert);
  for (int t = 0; t < n_tokens; ++t) {
    const float* s = scores + static_cast<size_t>(t) * n_expert;
    const float mx = *std::max_element(s, s + n_expert);
    double sum = 0;
    for (int e = 0; e < n_expert; ++e) sum += p[e] = std::exp(s[e] - mx);
    for (int e = 0; e < n_expert; ++e) p[e] = static_cast<float>(p[e] / sum);
    std::iota(order.begin(), order.end(), 0);
    std::partial_sort(order.begin(), order.begin() + k, order.end(),
                      [&](int a, int b) { return p[a] > p[b] || (p[a] == p[b] && a < b); });
    float chosen = 0;
    for (int i = 0; i < k; ++i) chosen += p[order[i]];
    if (!normalize) chosen = 1;
    for (int i = 0; i < k; ++i) {
      r.tokens[order[i]].push_back(t);
      r.weights[order[i]].push_back(p[order[i]] / chosen);
    }
  }
  return r;
}

MoeWeights bind_moe(WeightStore& ws, const std::string& p, const HParams& h, Backend& be) {
  const int64_t E = h.n_embd, F = h.n_ff_exp, X = h.n_expert;
  MoeWeights m;
  m.router = ws.matrix(p + "ffn_gate_inp.weight", {E, X}, be);
  for (int e = 0; e < X; ++e) {
    m.gate.push_back(ws.expert(p + "ffn_gate_exps.weight", {E, F, X}, e, be));
    m.up.push_back(ws.expert(p + "ffn_up_exps.weight", {E, F, X}, e, be));
    m.down.push_back(ws.expert(p + "ffn_down_exps.weight", {F, E, X}, e, be));
  }
  return m;
}

void moe_block(Backend& be, Activations& a, const MoeWeights& w, const HParams& h, int n_tokens, const float* in,
               float* x, float scale) {
  be.matmul(w.router, in, a.router, n_tokens);
  std::vector<float> host_scores(static_cast<size_t>(n_tokens) * h.n_expert);
  be.to_host(host_scores.data(), a.router, host_scores.size() * sizeof(float));
  Routing r = route_tokens(host_scores.data(), n_tokens, h.n_expert, h.n_expert_used, h.expert_weights_norm);
  if (scale != 1.0f)
    for (auto& ws : r.weights)
      for (float& v : ws) v *= scale;
  for (int e = 0; e < h.n_expert; ++e) {
    const int n = static_cast<int>(r.tokens[e].size());
    if (n == 0) continue;
    // The expert's tokens gathered into a.y, through its SwiGLU FFN, and back into x with their weights.
    be.gather_rows(in, r.tokens[e].data(), n, h.n_embd, a.y);
    be.matmul(w.gate[e], a.y, a.gate, n);
    be.matmul(w.up[e], a.y, a.up, n);
    be.swiglu(a.gate, a.up, a.gate, static_cast<size_t>(n) * h.n_ff_exp);
    be.matmul(w.down[e], a.gate, a.y, n);
    be.scatter_add_rows(x, a.y, r.tokens[e].data(), r.weights[e].data(), n, h.n_embd);
  }
}

}  // namespace hearth

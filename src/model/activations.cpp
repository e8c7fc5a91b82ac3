#include "model/activations.h"

#include <algorithm>

#include "placement/plan.h"

namespace hearth {

void alloc_activations(const HParams& h, const PlacementPlan& plan, const std::set<int>& used, size_t n_batch,
                       bool with_logits, std::vector<Activations>& acts,
                       std::vector<std::pair<Backend*, void*>>& owned) {
  acts.resize(plan.backends.size());
  for (int b : used) {
    Backend* be = plan.backends[b];
    auto take = [&](size_t n) {
      void* ptr = be->alloc(n * sizeof(float));
      owned.emplace_back(be, ptr);
      return static_cast<float*>(ptr);
    };
    Activations& a = acts[b];
    a.x = take(n_batch * h.n_embd);
    a.xn = take(n_batch * h.n_embd);
    a.q = take(n_batch * h.q_dim());
    a.k = take(n_batch * h.kv_dim());
    a.v = take(n_batch * h.kv_dim());
    a.att = take(n_batch * h.q_dim());
    const size_t ff = std::max({h.n_ff, h.n_ff_exp, h.n_ff_shexp});
    a.gate = take(n_batch * ff);
    a.up = take(n_batch * ff);
    if (h.n_expert > 0) a.router = take(n_batch * h.n_expert);
    a.y = take(n_batch * h.n_embd);
    if (h.n_wide > 0) a.wide = take(n_batch * h.n_wide);
    if (with_logits && b == plan.output_backend) a.logits = take(n_batch * h.n_vocab);
  }
}

}  // namespace hearth

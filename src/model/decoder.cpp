#include "model/decoder.h"

#include "hearth/error.h"
#include "model/weight_store.h"
#include "placement/plan.h"

namespace hearth {

void Decoder::bind_io(WeightStore& ws, NormKind norm) {
  const int64_t E = h_.n_embd, V = h_.n_vocab;
  if (plan_.input) tok_embd_ = ws.get("token_embd.weight", {E, V}, *plan_.backends[0]);
  if (!plan_.output) return;
  Backend& out = *plan_.backends[plan_.output_backend];
  output_norm_ = bind_norm(ws, "output_norm", E, out, norm);
  // Tied embeddings: the head is the embedding table when output.weight is absent.
  output_ = ws.matrix(ws.has("output.weight") ? "output.weight" : "token_embd.weight", {E, V}, out);
}

void Decoder::forward(ForwardPass& pass) {
  const int n = pass.n_tokens;
  const size_t hidden_bytes = static_cast<size_t>(n) * h_.n_embd * sizeof(float);
  for (Backend* be : plan_.backends) be->set_batch(pass.pos, pass.seq, n);

  // Embedding lookup on the CPU (from the mapping), or the hidden state from the previous pipeline stage;
  // then to wherever the first layer runs.
  Activations& cpu_act = (*pass.acts)[0];
  if (pass.hidden_in) {
    plan_.backends[0]->to_device(cpu_act.x, pass.hidden_in, hidden_bytes);
  } else if (plan_.input) {
    plan_.backends[0]->get_rows(tok_embd_, pass.tokens, n, cpu_act.x);
    embed(*plan_.backends[0], cpu_act, pass);
  } else {
    throw Error("pipeline stage without input: the forward pass needs the hidden state");
  }
  int cur = 0;
  if (pass.lap < 0 || pass.lap >= plan_.n_laps())
    throw Error("forward pass: lap " + std::to_string(pass.lap) + " of " + std::to_string(plan_.n_laps()));
  const auto [first, last] = plan_.lap_range(pass.lap, h_.n_layer);
  for (int l = first; l < last; ++l) {
    if (pass.observer) pass.observer->before_layer(l);
    cur = move_hidden(pass, cur, plan_.layer_backend[l], hidden_bytes);
    layer(*plan_.backends[cur], (*pass.acts)[cur], l, (*pass.kv)[l], n);
    if (pass.observer) pass.observer->after_layer(l);
  }
  if (pass.hidden_out || !plan_.output || pass.lap + 1 < plan_.n_laps()) {
    if (!pass.hidden_out) throw Error("pipeline stage without output: the forward pass needs hidden_out");
    plan_.backends[cur]->to_host(pass.hidden_out, (*pass.acts)[cur].x, hidden_bytes);
    return;
  }
  cur = move_hidden(pass, cur, plan_.output_backend, hidden_bytes);
  head(pass, *plan_.backends[cur], (*pass.acts)[cur]);
}

void Decoder::head(ForwardPass& pass, Backend& be, Activations& a) {
  const int n = pass.n_tokens;
  apply_norm(be, output_norm_, a.x, a.xn, n, h_.n_embd, h_.norm_eps);
  if (pass.embd_out) be.to_host(pass.embd_out, a.xn, static_cast<size_t>(n) * h_.n_embd * sizeof(float));
  if (pass.logit_rows.empty()) return;
  // Logits only for the wanted rows, one matmul per contiguous run of rows.
  const auto& rows = pass.logit_rows;
  size_t i = 0, done = 0;
  while (i < rows.size()) {
    size_t j = i + 1;
    while (j < rows.size() && rows[j] == rows[j - 1] + 1) ++j;
    const int run = static_cast<int>(j - i);
    be.matmul(output_, a.xn + static_cast<size_t>(rows[i]) * h_.n_embd, a.logits + done * h_.n_vocab, run);
    done += run;
    i = j;
  }
  be.to_host(pass.logits_out, a.logits, done * h_.n_vocab * sizeof(float));
  finish_logits(pass.logits_out, done * h_.n_vocab);
}

// Moves the hidden state from backend `from` to backend `to` through host memory; returns `to`.
int Decoder::move_hidden(ForwardPass& pass, int from, int to, size_t bytes) {
  if (from == to) return to;
  Activations& src = (*pass.acts)[from];
  Activations& dst = (*pass.acts)[to];
  staging_.resize(bytes / sizeof(float));
  plan_.backends[from]->to_host(staging_.data(), src.x, bytes);
  plan_.backends[to]->to_device(dst.x, staging_.data(), bytes);
  return to;
}

}  // namespace hearth

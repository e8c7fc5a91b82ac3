#include "model/blocks.h"

#include <algorithm>
#include <cmath>

#include "gguf/gguf.h"
#include "hearth/error.h"
#include "model/weight_store.h"

namespace hearth {
namespace {

// A vector the blocks read as F32 (norm weights, biases), its type checked before it is placed.
Weight f32_vector(WeightStore& ws, const std::string& name, std::initializer_list<int64_t> shape, Backend& be) {
  const GgufTensor* t = ws.find(name);
  if (t && t->type != DType::F32) throw Error("tensor " + name + ": expected type f32");
  return ws.get(name, shape, be);
}

// The same when the file has it; an empty Weight otherwise.
Weight optional(WeightStore& ws, const std::string& name, std::initializer_list<int64_t> shape, Backend& be) {
  return ws.has(name) ? f32_vector(ws, name, shape, be) : Weight{};
}

}  // namespace

Norm bind_norm(WeightStore& ws, const std::string& prefix, int64_t dim, Backend& be, NormKind kind) {
  Norm n;
  n.layer = kind != NormKind::Rms;
  n.w = f32_vector(ws, prefix + ".weight", {dim}, be);
  // Required: a part file without it must not run without it.
  if (kind == NormKind::Layer) n.b = f32_vector(ws, prefix + ".bias", {dim}, be);
  return n;
}

AttentionWeights bind_attention(WeightStore& ws, const std::string& p, const HParams& h, Backend& be) {
  const int64_t E = h.n_embd, Q = h.q_dim(), KV = h.kv_dim();
  AttentionWeights a;
  if (ws.has(p + "attn_qkv.weight")) {
    a.wqkv = ws.matrix(p + "attn_qkv.weight", {E, Q + 2 * KV}, be);
    a.bqkv = optional(ws, p + "attn_qkv.bias", {Q + 2 * KV}, be);
  } else {
    a.wq = ws.matrix(p + "attn_q.weight", {E, Q}, be);
    a.wk = ws.matrix(p + "attn_k.weight", {E, KV}, be);
    a.wv = ws.matrix(p + "attn_v.weight", {E, KV}, be);
    a.bq = optional(ws, p + "attn_q.bias", {Q}, be);
    a.bk = optional(ws, p + "attn_k.bias", {KV}, be);
    a.bv = optional(ws, p + "attn_v.bias", {KV}, be);
  }
  a.q_norm = optional(ws, p + "attn_q_norm.weight", {h.head_dim}, be);
  a.k_norm = optional(ws, p + "attn_k_norm.weight", {h.head_dim}, be);
  a.wo = ws.matrix(p + "attn_output.weight", {Q, E}, be);
  a.bo = optional(ws, p + "attn_output.bias", {E}, be);
  return a;
}

FfnWeights bind_ffn(WeightStore& ws, const std::string& p, const HParams& h, Backend& be, FfnKind kind) {
  const int64_t E = h.n_embd, F = h.n_ff;
  FfnWeights f;
  f.kind = kind;
  if (kind != FfnKind::Gelu && !ws.has(p + "ffn_gate.weight"))
    f.up = ws.matrix(p + "ffn_up.weight", {E, 2 * F}, be);  // gate and up in one matrix
  else
    f.up = ws.matrix(p + "ffn_up.weight", {E, F}, be);
  if (kind != FfnKind::Gelu && ws.has(p + "ffn_gate.weight")) f.gate = ws.matrix(p + "ffn_gate.weight", {E, F}, be);
  f.down = ws.matrix(p + "ffn_down.weight", {F, E}, be);
  f.up_b = optional(ws, p + "ffn_up.bias", {F}, be);
  f.down_b = optional(ws, p + "ffn_down.bias", {E}, be);
  return f;
}

Block bind_block(WeightStore& ws, const std::string& p, const HParams& h, Backend& be, NormKind norm, FfnKind kind) {
  Block b;
  b.attn_norm = bind_norm(ws, p + "attn_norm", h.n_embd, be, norm);
  b.attn = bind_attention(ws, p, h, be);
  b.ffn_norm = bind_norm(ws, p + "ffn_norm", h.n_embd, be, norm);
  if (h.n_expert == 0) {
    b.ffn = bind_ffn(ws, p, h, be, kind);
    return b;
  }
  b.moe = bind_moe(ws, p, h, be);
  if (h.n_ff_shexp > 0) {  // the shared expert: a SwiGLU FFN of its own size
    const int64_t E = h.n_embd, F = h.n_ff_shexp;
    b.shared.up = ws.matrix(p + "ffn_up_shexp.weight", {E, F}, be);
    b.shared.gate = ws.matrix(p + "ffn_gate_shexp.weight", {E, F}, be);
    b.shared.down = ws.matrix(p + "ffn_down_shexp.weight", {F, E}, be);
    if (ws.has(p + "ffn_gate_inp_shexp.weight"))
      b.shared_gate = ws.matrix(p + "ffn_gate_inp_shexp.weight", {E}, be);
  }
  return b;
}

int wide_dim(const AttentionWeights& a, const FfnWeights& f, const HParams& h) {
  int w = 0;
  if (present(a.wqkv)) w = std::max(w, h.q_dim() + 2 * h.kv_dim());
  if (f.kind != FfnKind::Gelu && present(f.up) && !present(f.gate)) w = std::max(w, 2 * h.n_ff);
  return w;
}

void apply_norm(Backend& be, const Norm& norm, const float* x, float* y, int n_rows, int dim, float eps) {
  if (norm.layer)
    be.layer_norm(x, norm.w, norm.b, y, n_rows, dim, eps);
  else
    be.rms_norm(x, norm.w, y, n_rows, dim, eps);
}

RopeParams rope_params(const HParams& h, const float* freq_factors) {
  RopeParams r;
  r.n_rot = h.n_rot;
  r.freq_base = h.rope_freq_base;
  r.freq_scale = h.rope_freq_scale;
  r.neox = h.rope_neox;
  r.freq_factors = freq_factors;
  r.attn_factor = h.rope_attn_factor;
  return r;
}

std::vector<float> rope_factors(WeightStore& ws, const std::string& name, const HParams& h) {
  const GgufTensor* t = ws.find(name);
  if (!t) return {};
  if (t->type != DType::F32 || t->n_elements() != h.n_rot / 2)
    throw Error("tensor " + name + ": expected " + std::to_string(h.n_rot / 2) + " f32 values, file has " +
                t->shape_str());
  const float* v = static_cast<const float*>(ws.view(name, {h.n_rot / 2}).data);
  return std::vector<float>(v, v + h.n_rot / 2);
}

void attention_block(Backend& be, Activations& a, const AttentionWeights& w, const KvLayer& kv, const HParams& h,
                     const RopeParams& rope, int n_tokens, const float* in, float* out, const AttentionOptions& opt) {
  const size_t Q = h.q_dim(), KV = h.kv_dim();
  if (present(w.wqkv)) {
    const size_t width = Q + 2 * KV;
    be.matmul(w.wqkv, in, a.wide, n_tokens);
    if (present(w.bqkv)) be.add_bias(a.wide, w.bqkv, n_tokens);
    be.copy_2d(a.q, Q, a.wide, width, Q, n_tokens);
    be.copy_2d(a.k, KV, a.wide + Q, width, KV, n_tokens);
    be.copy_2d(a.v, KV, a.wide + Q + KV, width, KV, n_tokens);
  } else {
    be.matmul(w.wq, in, a.q, n_tokens);
    be.matmul(w.wk, in, a.k, n_tokens);
    be.matmul(w.wv, in, a.v, n_tokens);
    if (present(w.bq)) be.add_bias(a.q, w.bq, n_tokens);
    if (present(w.bk)) be.add_bias(a.k, w.bk, n_tokens);
    if (present(w.bv)) be.add_bias(a.v, w.bv, n_tokens);
  }
  if (present(w.q_norm)) be.rms_norm(a.q, w.q_norm, a.q, n_tokens * h.n_head, h.head_dim, h.norm_eps);
  if (present(w.k_norm)) be.rms_norm(a.k, w.k_norm, a.k, n_tokens * h.n_head_kv, h.head_dim, h.norm_eps);
  if (rope.n_rot > 0) {
    be.rope(a.q, n_tokens, h.n_head, h.head_dim, rope);
    be.rope(a.k, n_tokens, h.n_head_kv, h.head_dim, rope);
  }
  be.kv_store(a.k, a.v, kv, n_tokens);
  AttentionParams ap;
  ap.n_head = h.n_head;
  ap.n_head_kv = h.n_head_kv;
  ap.head_dim = h.head_dim;
  ap.scale = opt.scale > 0 ? opt.scale : 1.0f / std::sqrt(static_cast<float>(h.head_dim));
  ap.window = opt.window;
  ap.softcap = opt.softcap;
  be.attention(a.q, kv, n_tokens, a.att, ap);
  be.matmul(w.wo, a.att, out, n_tokens);
  if (present(w.bo)) be.add_bias(out, w.bo, n_tokens);
}

void ffn_block(Backend& be, Activations& a, const FfnWeights& w, int n_tokens, const float* in, float* out) {
  // n_ff, or the shared expert's size
  const size_t F = static_cast<size_t>(w.down.cols()), n = static_cast<size_t>(n_tokens) * F;
  if (w.kind == FfnKind::Gelu) {
    be.matmul(w.up, in, a.up, n_tokens);
    if (present(w.up_b)) be.add_bias(a.up, w.up_b, n_tokens);
    be.gelu(a.up, a.gate, n);
  } else {
    if (present(w.gate)) {
      be.matmul(w.gate, in, a.gate, n_tokens);
      be.matmul(w.up, in, a.up, n_tokens);
    } else {  // one matrix: each row of its output is the gate's n_ff values, then the up values
      be.matmul(w.up, in, a.wide, n_tokens);
      be.copy_2d(a.gate, F, a.wide, 2 * F, F, n_tokens);
      be.copy_2d(a.up, F, a.wide + F, 2 * F, F, n_tokens);
    }
    if (present(w.up_b)) be.add_bias(a.up, w.up_b, n_tokens);
    if (w.kind == FfnKind::SwiGlu)
      be.swiglu(a.gate, a.up, a.gate, n);
    else
      be.geglu(a.gate, a.up, a.gate, n);
  }
  be.matmul(w.down, a.gate, out, n_tokens);
  if (present(w.down_b)) be.add_bias(out, w.down_b, n_tokens);
}

}  // namespace hearth

namespace hearth {

namespace {

// x += scale * g * shared(a.xn) per token, g = sigmoid(shared_gate . a.xn) (Qwen2-MoE) or 1 (Granite MoE).
void shared_expert(Backend& be, Activations& a, const Block& b, int n_tokens, int n_embd, float scale) {
  std::vector<float> g(n_tokens, 1.0f);
  if (present(b.shared_gate)) {
    be.matmul(b.shared_gate, a.xn, a.router, n_tokens);  // [n_tokens, 1]
    be.to_host(g.data(), a.router, g.size() * sizeof(float));
    for (float& v : g) v = 1.0f / (1.0f + std::exp(-v));
  }
  std::vector<int32_t> rows(n_tokens);
  for (int t = 0; t < n_tokens; ++t) rows[t] = t, g[t] *= scale;
  ffn_block(be, a, b.shared, n_tokens, a.xn, a.y);
  be.scatter_add_rows(a.x, a.y, rows.data(), g.data(), n_tokens, n_embd);
}

}  // namespace

void pre_norm_block(Backend& be, Activations& a, const Block& b, const KvLayer& kv, const HParams& h,
                    const RopeParams& rope, int n_tokens, const BlockOptions& opt) {
  const size_t n = static_cast<size_t>(n_tokens) * h.n_embd;
  const float s = opt.residual_scale;
  apply_norm(be, b.attn_norm, a.x, a.xn, n_tokens, h.n_embd, h.norm_eps);
  attention_block(be, a, b.attn, kv, h, rope, n_tokens, a.xn, a.xn, opt.attn);
  if (s != 0) be.scale(a.xn, s, n);
  be.add(a.x, a.xn, n);
  apply_norm(be, b.ffn_norm, a.x, a.xn, n_tokens, h.n_embd, h.norm_eps);
  if (!b.moe.empty()) {
    moe_block(be, a, b.moe, h, n_tokens, a.xn, a.x, s != 0 ? s : 1.0f);  // leaves a.xn as it was
    if (present(b.shared.down)) shared_expert(be, a, b, n_tokens, h.n_embd, s != 0 ? s : 1.0f);
    return;
  }
  ffn_block(be, a, b.ffn, n_tokens, a.xn, a.xn);
  if (s != 0) be.scale(a.xn, s, n);
  be.add(a.x, a.xn, n);
}

}  // namespace hearth

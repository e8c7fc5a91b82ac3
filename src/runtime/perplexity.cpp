// Perplexity and KL divergence over chunks of a token stream (the method of llama.cpp's llama-perplexity).
#include "hearth/perplexity.h"

#include <algorithm>
#include <cmath>
#include <memory>
#include <string>

#include "hearth/error.h"
#include "hearth/session.h"

namespace hearth {

void log_softmax(std::span<const float> logits, std::span<double> out) {
  if (logits.empty() || out.size() != logits.size())
    throw Error("log_softmax: " + std::to_string(logits.size()) + " logits, " + std::to_string(out.size()) +
                " outputs (expected the same, at least one)");
  const double max = *std::max_element(logits.begin(), logits.end());
  double sum = 0;
  for (float v : logits) sum += std::exp(static_cast<double>(v) - max);
  const double log_z = max + std::log(sum);
  for (size_t i = 0; i < logits.size(); ++i) out[i] = static_cast<double>(logits[i]) - log_z;
}

double log_prob(std::span<const float> logits, int32_t token) {
  if (token < 0 || static_cast<size_t>(token) >= logits.size())
    throw Error("log_prob: token " + std::to_string(token) + " outside the " + std::to_string(logits.size()) +
                " logits");
  const double max = *std::max_element(logits.begin(), logits.end());
  double sum = 0;
  for (float v : logits) sum += std::exp(static_cast<double>(v) - max);
  return static_cast<double>(logits[token]) - max - std::log(sum);
}

double kl_divergence(std::span<const double> log_p, std::span<const double> log_q) {
  if (log_p.size() != log_q.size())
    throw Error("kl_divergence: distributions of " + std::to_string(log_p.size()) + " and " +
                std::to_string(log_q.size()) + " values");
  double kl = 0;
  for (size_t i = 0; i < log_p.size(); ++i) {
    const double p = std::exp(log_p[i]);
    if (p > 0) kl += p * (log_p[i] - log_q[i]);
  }
  return kl;
}

size_t argmax(std::span<const float> values) {
  return static_cast<size_t>(std::max_element(values.begin(), values.end()) - values.begin());
}

double MeanAccumulator::standard_error() const {
  if (n < 2) return 0.0;
  const double m = mean();
  const double var = sum2 / n - m * m;
  return var > 0 ? std::sqrt(var / (n - 1)) : 0.0;
}

int perplexity_parallel(const PerplexityParams& p, int n_tokens) {
  if (p.n_ctx <= 0 || p.n_batch <= 0) return 1;
  int n_chunks = n_tokens / p.n_ctx;
  if (p.n_chunks > 0) n_chunks = std::min(n_chunks, p.n_chunks);
  return std::max(1, std::min(p.n_batch / p.n_ctx, n_chunks));
}

namespace {

// The running sums behind a PerplexityResult.
struct Tally {
  MeanAccumulator nll, base_nll, kl;
  double nll_cross = 0;  // sum of nll * base_nll (their covariance)
  size_t same_top = 0;
  std::vector<float> kl_values;  // per scored token
};

void check_inputs(const Model& model, std::span<const int32_t> tokens, const PerplexityParams& p) {
  const int n_ctx_train = model.info().n_ctx_train;
  if (p.n_ctx < 4) throw Error("context size " + std::to_string(p.n_ctx) + " is too small for perplexity (at least 4)");
  if (n_ctx_train > 0 && p.n_ctx > n_ctx_train)
    throw Error("context size " + std::to_string(p.n_ctx) + " exceeds the model's training context " +
                std::to_string(n_ctx_train) + " (use a smaller -c)");
  if (p.n_batch < 1) throw Error("batch size must be at least 1, got " + std::to_string(p.n_batch));
  if (tokens.size() < 2 * static_cast<size_t>(p.n_ctx))
    throw Error("the text has only " + std::to_string(tokens.size()) + " tokens; perplexity with a context of " +
                std::to_string(p.n_ctx) + " needs at least " + std::to_string(2 * p.n_ctx) +
                " (use a longer text or a smaller -c)");
}

bool vocab_adds_bos(const Model& model) {
  const std::vector<int32_t> empty = model.tokenize("", true, false);
  return !empty.empty() && empty.front() == model.bos();
}

// Evaluates chunks [c0, c0 + n) of tokens, chunk q as sequence q of session s from an empty cache, and
// writes the logits of positions n_ctx/2 .. n_ctx-2 of each chunk to out[n][n_ctx - 1 - n_ctx/2][n_vocab].
void eval_chunks(Session& s, std::span<const int32_t> tokens, int n_ctx, int c0, int n, int n_batch, float* out) {
  const int first = n_ctx / 2;
  const bool add_bos = vocab_adds_bos(s.model());
  std::vector<BatchToken> all;
  all.reserve(static_cast<size_t>(n) * n_ctx);
  for (int q = 0; q < n; ++q) {
    s.truncate(q, 0);
    const int32_t* t = tokens.data() + static_cast<size_t>(c0 + q) * n_ctx;
    for (int i = 0; i < n_ctx; ++i)
      all.push_back({i == 0 && add_bos ? s.model().bos() : t[i], q, i >= first && i < n_ctx - 1});
  }
  const size_t nv = s.n_vocab();
  for (size_t b = 0; b < all.size(); b += n_batch) {
    std::span<const BatchToken> batch(all.data() + b, std::min<size_t>(n_batch, all.size() - b));
    s.decode_batch(batch, out);
    out += std::count_if(batch.begin(), batch.end(), [](const BatchToken& t) { return t.logits; }) * nv;
  }
}

// Fills the statistics of r from the running sums (the percentiles only when final).
void summarize(const Tally& t, bool has_base, bool final, PerplexityResult& r) {
  r.n_scored = t.nll.n;
  r.nll = t.nll.mean();
  r.nll_err = t.nll.standard_error();
  r.ppl = std::exp(r.nll);
  r.ppl_err = r.ppl * r.nll_err;
  r.chunk_ppl.push_back(r.ppl);
  if (!has_base) return;
  r.has_base = true;
  r.base_nll = t.base_nll.mean();
  r.base_nll_err = t.base_nll.standard_error();
  r.base_ppl = std::exp(r.base_nll);
  r.base_ppl_err = r.base_ppl * r.base_nll_err;
  const size_t n = t.nll.n;
  const double cov = n > 1 ? (t.nll_cross / n - r.nll * r.base_nll) / (n - 1) : 0.0;
  r.log_ppl_ratio = r.nll - r.base_nll;
  r.log_ppl_ratio_err = std::sqrt(std::max(0.0, r.nll_err * r.nll_err + r.base_nll_err * r.base_nll_err - 2 * cov));
  r.kl = t.kl.mean();
  r.kl_err = t.kl.standard_error();
  r.chunk_kl.push_back(r.kl);
  r.top1 = n ? static_cast<double>(t.same_top) / n : 0.0;
  r.top1_err = n > 1 ? std::sqrt(r.top1 * (1 - r.top1) / (n - 1)) : 0.0;
  if (final && !t.kl_values.empty()) {
    std::vector<float> v = t.kl_values;
    std::sort(v.begin(), v.end());
    auto at = [&](double f) {  // linear interpolation between order statistics
      const double x = f * (v.size() - 1);
      const size_t i = static_cast<size_t>(x);
      const size_t j = std::min(i + 1, v.size() - 1);
      return (1 - (x - i)) * v[i] + (x - i) * v[j];
    };
    r.kl_median = at(0.5);
    r.kl_p99 = at(0.99);
    r.kl_max = v.back();
  }
}

PerplexityResult run(Model& model, Model* base, std::span<const int32_t> tokens, const PerplexityParams& p,
                     const PerplexityProgress& progress) {
  check_inputs(model, tokens, p);
  const int n_vocab = model.info().n_vocab;
  if (base) {
    if (base->info().n_vocab != n_vocab)
      throw Error("the base model's vocabulary has " + std::to_string(base->info().n_vocab) +
                  " tokens, the model's " + std::to_string(n_vocab) + " (KL divergence needs the same tokenizer)");
    if (base->bos() != model.bos() || vocab_adds_bos(*base) != vocab_adds_bos(model))
      throw Error("the base model and the model differ in their BOS token (KL divergence needs the same tokenizer)");
    check_inputs(*base, tokens, p);
  }
  for (int32_t t : tokens)
    if (t < 0 || t >= n_vocab)
      throw Error("token id " + std::to_string(t) + " is outside the vocabulary (" + std::to_string(n_vocab) + ")");

  const int n_ctx = p.n_ctx;
  const int first = n_ctx / 2;
  const int n_score = n_ctx - 1 - first;  // scored positions per chunk
  int n_chunks = static_cast<int>(tokens.size() / n_ctx);
  if (p.n_chunks > 0) n_chunks = std::min(n_chunks, p.n_chunks);
  const int n_par = perplexity_parallel(p, static_cast<int>(tokens.size()));

  SessionParams sp;
  sp.n_ctx = n_ctx;
  sp.n_seq = n_par;
  sp.n_batch = std::min(p.n_batch, n_par * n_ctx);
  sp.kv_f32 = p.kv_f32;
  Session session(model, sp);
  std::unique_ptr<Session> base_session;
  if (base) base_session = std::make_unique<Session>(*base, sp);

  const size_t row_floats = static_cast<size_t>(n_score) * n_vocab;
  std::vector<float> logits(n_par * row_floats), base_logits(base ? n_par * row_floats : 0);
  std::vector<double> lp(base ? n_vocab : 0), base_lp(base ? n_vocab : 0);

  PerplexityResult r;
  r.n_ctx = n_ctx;
  r.n_tokens = static_cast<int>(tokens.size());
  r.n_chunks_total = n_chunks;
  Tally t;
  for (int c0 = 0; c0 < n_chunks; c0 += n_par) {
    const int n = std::min(n_par, n_chunks - c0);
    eval_chunks(session, tokens, n_ctx, c0, n, sp.n_batch, logits.data());
    if (base) eval_chunks(*base_session, tokens, n_ctx, c0, n, sp.n_batch, base_logits.data());
    for (int q = 0; q < n; ++q) {
      const int32_t* next = tokens.data() + static_cast<size_t>(c0 + q) * n_ctx + first + 1;  // scored tokens
      for (int k = 0; k < n_score; ++k) {
        const size_t off = q * row_floats + static_cast<size_t>(k) * n_vocab;
        std::span<const float> row(logits.data() + off, n_vocab);
        if (!base) {
          t.nll.add(-log_prob(row, next[k]));
          continue;
        }
        std::span<const float> base_row(base_logits.data() + off, n_vocab);
        log_softmax(row, lp);
        log_softmax(base_row, base_lp);
        const double nll = -lp[next[k]], base_nll = -base_lp[next[k]];
        t.nll.add(nll);
        t.base_nll.add(base_nll);
        t.nll_cross += nll * base_nll;
        const double kl = kl_divergence(base_lp, lp);
        t.kl.add(kl);
        t.kl_values.push_back(static_cast<float>(kl));
        t.same_top += argmax(row) == argmax(base_row);
      }
      ++r.n_chunks;
      summarize(t, base != nullptr, r.n_chunks == n_chunks, r);
      if (progress) progress(r);
    }
  }
  return r;
}

}  // namespace

PerplexityResult perplexity(Model& model, std::span<const int32_t> tokens, const PerplexityParams& params,
                            const PerplexityProgress& progress) {
  return run(model, nullptr, tokens, params, progress);
}

PerplexityResult kl_divergence(Model& model, Model& base, std::span<const int32_t> tokens,
                               const PerplexityParams& params, const PerplexityProgress& progress) {
  return run(model, &base, tokens, params, progress);
}

}  // namespace hearth

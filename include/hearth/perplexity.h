// Perplexity and KL divergence of a model on a token stream, measured as llama.cpp's llama-perplexity does
// so the numbers are comparable: the tokens are cut into chunks of n_ctx, each chunk is evaluated from an
// empty context (its first token replaced by BOS when the vocabulary adds one), and only the second half of
// each chunk is scored, so every scored token has at least n_ctx/2 tokens of context.
#pragma once
#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>
#include <vector>

#include "hearth/model.h"

namespace hearth {

struct PerplexityParams {
  int n_ctx = 512;    // tokens per chunk
  int n_batch = 512;  // tokens per forward pass; chunks share a pass (as sequences) when n_batch >= 2*n_ctx
  int n_chunks = -1;  // evaluate at most this many chunks; <= 0: every whole chunk of the text
  bool kv_f32 = false;  // F32 KV cache instead of F16 (llama.cpp's default is F16)
};

struct PerplexityResult {
  int n_ctx = 0;
  int n_tokens = 0;     // tokens in the text
  int n_chunks = 0;     // chunks evaluated so far
  int n_chunks_total = 0;  // chunks that will be evaluated
  size_t n_scored = 0;  // tokens scored: n_chunks * (n_ctx - 1 - n_ctx/2)
  std::vector<double> chunk_ppl;  // [n_chunks] running PPL after each chunk (llama.cpp's "[i]ppl," line)
  double nll = 0, nll_err = 0;    // mean negative log-likelihood (nats/token) and its standard error
  double ppl = 0, ppl_err = 0;    // exp(nll) and ppl * nll_err

  // KL mode (measured against a base model's logits on the same tokens); zero otherwise.
  bool has_base = false;
  double base_nll = 0, base_nll_err = 0;
  double base_ppl = 0, base_ppl_err = 0;
  double log_ppl_ratio = 0, log_ppl_ratio_err = 0;  // ln(PPL/PPL_base), the error allows for correlation
  double kl = 0, kl_err = 0;       // mean KL(base || model) per token, nats, and its standard error
  double kl_median = 0, kl_p99 = 0, kl_max = 0;  // over scored tokens; set once all chunks are done
  double top1 = 0, top1_err = 0;   // fraction of tokens where both models' most likely token agree
  std::vector<double> chunk_kl;    // [n_chunks] running mean KL after each chunk
};

// Called after each chunk with the running result.
using PerplexityProgress = std::function<void(const PerplexityResult&)>;

// Evaluates tokens (as tokenized for the model, BOS included) in chunks of params.n_ctx. Throws when the text
// has fewer than 2 * n_ctx tokens, or n_ctx exceeds the model's training context.
PerplexityResult perplexity(Model& model, std::span<const int32_t> tokens, const PerplexityParams& params = {},
                            const PerplexityProgress& progress = {});

// As perplexity(), and also evaluates every chunk with base (which must share model's vocabulary) and
// compares the two distributions at every scored position.
PerplexityResult kl_divergence(Model& model, Model& base, std::span<const int32_t> tokens,
                               const PerplexityParams& params = {}, const PerplexityProgress& progress = {});

// Sequences evaluated together in one pass: n_batch / n_ctx, at least 1, at most the number of chunks
// (also the factor by which the KV cache is larger than n_ctx).
int perplexity_parallel(const PerplexityParams& params, int n_tokens);

// --- statistics (pure functions) ---

// Natural-log probabilities of a logit row, computed in double: out[i] = logits[i] - max - log(sum exp).
void log_softmax(std::span<const float> logits, std::span<double> out);
// log p(token) of a logit row, in double.
double log_prob(std::span<const float> logits, int32_t token);
// KL(p || q) = sum_i p_i (log p_i - log q_i) from log-probabilities (terms with p_i = 0 contribute 0).
double kl_divergence(std::span<const double> log_p, std::span<const double> log_q);
// Index of the largest value (the first one on ties).
size_t argmax(std::span<const float> values);

// Running mean of samples and the standard error of that mean, as llama.cpp computes it:
// sqrt((E[x^2] - E[x]^2) / (n - 1)).
struct MeanAccumulator {
  double sum = 0, sum2 = 0;
  size_t n = 0;
  void add(double v) {
    sum += v;
    sum2 += v * v;
    ++n;
  }
  double mean() const { return n ? sum / n : 0.0; }
  double standard_error() const;  // 0 with fewer than two samples or no spread
};

}  // namespace hearth

#include "bench_batched.h"

#include <algorithm>
#include <chrono>
#include <random>
#include <vector>

#include "hearth/session.h"

namespace hearth::cli {

BatchedResult measure_batched(Model& model, int n_seq, int pp, int tg, unsigned seed) {
  SessionParams sp;
  sp.n_seq = n_seq;
  sp.n_ctx = pp + tg + 1;
  sp.n_batch = std::max(512, n_seq);
  Session s(model, sp);
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> tok(0, s.n_vocab() - 1);
  std::vector<float> logits(static_cast<size_t>(n_seq) * s.n_vocab());
  using Clock = std::chrono::steady_clock;
  BatchedResult r;

  // Prompts: all sequences' tokens in batches of up to n_batch, logits at each sequence's last token.
  std::vector<BatchToken> all;
  for (int q = 0; q < n_seq; ++q)
    for (int i = 0; i < pp; ++i) all.push_back({tok(rng), q, i + 1 == pp});
  auto t0 = Clock::now();
  for (size_t b = 0; b < all.size(); b += sp.n_batch) {
    const size_t e = std::min(all.size(), b + sp.n_batch);
    s.decode_batch(std::span<const BatchToken>(all.data() + b, e - b), logits.data());
  }
  if (pp > 0) r.pp_tps = all.size() / std::chrono::duration<double>(Clock::now() - t0).count();

  // Generation: one token of every sequence per forward pass.
  std::vector<BatchToken> step(n_seq);
  t0 = Clock::now();
  for (int i = 0; i < tg; ++i) {
    for (int q = 0; q < n_seq; ++q) step[q] = {tok(rng), q, true};
    s.decode_batch(step, logits.data());
  }
  if (tg > 0) r.tg_tps = static_cast<double>(tg) * n_seq / std::chrono::duration<double>(Clock::now() - t0).count();
  return r;
}

}  // namespace hearth::cli

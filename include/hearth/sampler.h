// The sampler chain, as llama.cpp's common sampler: logit bias, penalties, then top-k, top-p, min-p,
// temperature, then a seeded draw. temperature <= 0 is greedy: penalties, then the argmax (ties: lowest id).
#pragma once
#include <cstdint>
#include <memory>
#include <random>
#include <utility>
#include <vector>

namespace hearth {

namespace sampling {
class Step;
class Penalties;
struct Candidates;
}  // namespace sampling

struct SamplerParams {
  float temperature = 0.8f;
  int top_k = 40;             // <= 0: off
  float top_p = 0.95f;        // >= 1: off
  float min_p = 0.05f;        // <= 0: off
  float repeat_penalty = 1.0f;  // 1: off (llama.cpp: divide positive logits, multiply negative)
  int repeat_last_n = 64;     // window for all penalties; 0 off, -1 every accepted token
  float frequency_penalty = 0.0f;
  float presence_penalty = 0.0f;
  uint64_t seed = 0xFFFFFFFF;  // 0xFFFFFFFF: random seed
  // Added to a token's logit before anything else (OpenAI logit_bias; -INFINITY bans the token).
  std::vector<std::pair<int32_t, float>> logit_bias;
};

// One token and its probability in the distribution the draw picks from.
struct TokenProb {
  int32_t id;
  float p;
};

class Sampler {
 public:
  // Throws hearth::Error naming the field for parameters no sampler can work with: a temperature, top_p,
  // min_p or penalty that is NaN or infinite, a repeat_penalty <= 0, a NaN logit_bias. Finite values, however
  // large, are fine: the chain saturates at the largest float rather than overflowing into inf or NaN, so only
  // a logit_bias of -inf (a ban) takes a token out of the running.
  explicit Sampler(const SamplerParams& p);
  ~Sampler();
  Sampler(Sampler&&) noexcept;
  Sampler& operator=(Sampler&&) noexcept;

  // Picks the next token from logits[n_vocab] (not modified). Throws hearth::Error when no token is
  // possible (every logit -inf).
  int32_t sample(const float* logits, int32_t n_vocab);
  // The distribution sample() would draw from: the tokens that survive the chain, most probable first,
  // with probabilities summing to 1 (greedy: the argmax with p = 1).
  std::vector<TokenProb> distribution(const float* logits, int32_t n_vocab);
  // Records a token in the penalty window (prompt and generated tokens).
  void accept(int32_t token);
  // Forgets the penalty window and restarts the random sequence from the seed (a new random seed
  // when params().seed is 0xFFFFFFFF).
  void reset();

  const SamplerParams& params() const { return p_; }
  // The only logits the next draw can depend on (for a caller that may send fewer than n_vocab of them): the
  // candidate_limit() highest (0: any token can be drawn, all are needed) and those of touched_tokens(), which
  // the chain changes before it ranks them (logit_bias, and the penalty window when penalties are on). Drawing
  // from a row that holds just these, every other logit -inf, gives the same token as the full row.
  int candidate_limit() const;
  std::vector<int32_t> touched_tokens() const;
  // The seed in use (a fresh random one when params().seed is 0xFFFFFFFF).
  uint64_t seed() const { return seed_; }

 private:
  void run_chain(const float* logits, int32_t n_vocab);

  SamplerParams p_;
  uint64_t seed_ = 0;
  std::mt19937_64 rng_;
  std::vector<std::unique_ptr<sampling::Step>> chain_;
  const sampling::Penalties* penalties_ = nullptr;  // in chain_
  std::unique_ptr<sampling::Candidates> cands_;  // reused between calls: no allocation per token
};

}  // namespace hearth

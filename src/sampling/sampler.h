// The sampler chain: penalties, then top-k, top-p, min-p, temperature, then a seeded draw.
// temperature <= 0 is greedy (argmax) and skips everything else.
#pragma once
#include <cstdint>
#include <deque>
#include <random>
#include <vector>

namespace hearth {

struct SamplerParams {
  float temperature = 0.8f;
  int top_k = 40;             // <= 0: off
  float top_p = 0.95f;        // >= 1: off
  float min_p = 0.05f;        // <= 0: off
  float repeat_penalty = 1.0f;  // 1: off (llama.cpp: divide positive logits, multiply negative)
  int repeat_last_n = 64;     // window for all penalties; 0 off, -1 whole context
  float frequency_penalty = 0.0f;
  float presence_penalty = 0.0f;
  uint64_t seed = 0xFFFFFFFF;  // 0xFFFFFFFF: random seed
};

class Sampler {
 public:
  explicit Sampler(const SamplerParams& p);
  // Picks the next token from logits[n_vocab] (may modify logits).
  int32_t sample(float* logits, int32_t n_vocab);
  // Records a token in the penalty window (prompt and generated tokens).
  void accept(int32_t token);
  void reset();
  const SamplerParams& params() const { return p_; }

 private:
  SamplerParams p_;
  std::mt19937_64 rng_;
  std::deque<int32_t> recent_;
};

}  // namespace hearth

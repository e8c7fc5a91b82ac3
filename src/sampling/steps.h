// The steps of the sampler chain, each a small object with apply(): the shape of llama.cpp's sampler
// chain (llama_sampler_i: apply / accept / reset), so new steps (grammar, choices) slot in the same way.
#pragma once
#include <cstdint>
#include <deque>
#include <unordered_map>
#include <utility>
#include <vector>

#include "sampling/candidates.h"

namespace hearth::sampling {

class Step {
 public:
  virtual ~Step() = default;
  virtual const char* name() const = 0;
  virtual void apply(Candidates& c) = 0;
  // A token was chosen (or is part of the prompt).
  virtual void accept(int32_t /*token*/) {}
  virtual void reset() {}
};

// Adds a fixed bias to some tokens' logits (OpenAI's logit_bias; -INFINITY bans a token).
class LogitBias final : public Step {
 public:
  explicit LogitBias(std::vector<std::pair<int32_t, float>> bias) : bias_(std::move(bias)) {}
  const char* name() const override { return "logit-bias"; }
  void apply(Candidates& c) override;

 private:
  std::vector<std::pair<int32_t, float>> bias_;
};

// Repetition penalties over the last `last_n` accepted tokens (-1: every accepted token), as llama.cpp:
// a token seen c > 0 times gets logit /= repeat (logit > 0) or logit *= repeat (logit <= 0), then
// logit -= c * frequency + presence.
class Penalties final : public Step {
 public:
  Penalties(int last_n, float repeat, float frequency, float presence)
      : last_n_(last_n), repeat_(repeat), frequency_(frequency), presence_(presence) {}
  const char* name() const override { return "penalties"; }
  void apply(Candidates& c) override;
  void accept(int32_t token) override;
  void reset() override;
  // Times `token` occurs in the window.
  int count(int32_t token) const;
  // The distinct tokens whose logits apply() changes (none when the penalties are off).
  std::vector<int32_t> tokens() const;

 private:
  int last_n_;
  float repeat_, frequency_, presence_;
  std::deque<int32_t> window_;                 // oldest first
  std::unordered_map<int32_t, int> counts_;    // token -> occurrences in window_
};

// Keeps the k highest logits (k <= 0: off). Leaves the set sorted.
class TopK final : public Step {
 public:
  explicit TopK(int k) : k_(k) {}
  const char* name() const override { return "top-k"; }
  void apply(Candidates& c) override;

 private:
  int k_;
};

// Nucleus: keeps the smallest best-first prefix whose probability reaches p (at least one token;
// p >= 1: off). Sorts only as far as the cut needs.
class TopP final : public Step {
 public:
  explicit TopP(float p) : p_(p) {}
  const char* name() const override { return "top-p"; }
  void apply(Candidates& c) override;

 private:
  float p_;
};

// Keeps tokens whose probability is at least p times the best one's (p <= 0: off).
class MinP final : public Step {
 public:
  explicit MinP(float p) : p_(p) {}
  const char* name() const override { return "min-p"; }
  void apply(Candidates& c) override;

 private:
  float p_;
};

// Divides logits by t; t <= 0 keeps only the best token (greedy), as llama.cpp's temp sampler does.
class Temperature final : public Step {
 public:
  explicit Temperature(float t) : t_(t) {}
  const char* name() const override { return "temperature"; }
  void apply(Candidates& c) override;

 private:
  float t_;
};

// Draws one candidate with probability softmax(logit), using u in [0, 1) (53 random bits).
int32_t draw(Candidates& c, uint64_t random_bits);

}  // namespace hearth::sampling

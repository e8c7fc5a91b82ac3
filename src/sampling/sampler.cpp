// The sampler: builds the chain of steps from SamplerParams and runs it on each token's logits.
#include "hearth/sampler.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "hearth/error.h"
#include "sampling/candidates.h"
#include "sampling/steps.h"

namespace hearth {

namespace {

uint64_t pick_seed(uint64_t seed) {
  if (seed != 0xFFFFFFFFu) return seed;
  std::random_device rd;
  return (static_cast<uint64_t>(rd()) << 32) ^ rd();
}

const SamplerParams& checked(const SamplerParams& p) {
  auto finite = [](const char* name, float v) {
    if (!std::isfinite(v)) throw Error(std::string("sampler: ") + name + " must be a finite number, got " + std::to_string(v));
  };
  finite("temperature", p.temperature);
  finite("top_p", p.top_p);
  finite("min_p", p.min_p);
  finite("repeat_penalty", p.repeat_penalty);
  finite("frequency_penalty", p.frequency_penalty);
  finite("presence_penalty", p.presence_penalty);
  // llama.cpp divides positive logits by it: 0 would send them to +inf, a negative one would flip them.
  if (!(p.repeat_penalty > 0.0f))
    throw Error("sampler: repeat_penalty must be greater than 0 (1: off), got " + std::to_string(p.repeat_penalty));
  for (const auto& [id, bias] : p.logit_bias)
    if (std::isnan(bias)) throw Error("sampler: logit_bias of token " + std::to_string(id) + " is NaN");
  return p;
}

}  // namespace

Sampler::Sampler(const SamplerParams& p)
    : p_(checked(p)), seed_(pick_seed(p.seed)), rng_(seed_), cands_(std::make_unique<sampling::Candidates>()) {
  using namespace sampling;
  if (!p_.logit_bias.empty()) chain_.push_back(std::make_unique<LogitBias>(p_.logit_bias));
  auto penalties = std::make_unique<Penalties>(p_.repeat_last_n, p_.repeat_penalty, p_.frequency_penalty,
                                               p_.presence_penalty);
  penalties_ = penalties.get();
  chain_.push_back(std::move(penalties));
  // Greedy needs no filtering: the filters all keep the argmax, and temperature <= 0 keeps only it.
  if (p_.temperature > 0.0f) {
    if (p_.top_k > 0) chain_.push_back(std::make_unique<TopK>(p_.top_k));
    if (p_.top_p < 1.0f) chain_.push_back(std::make_unique<TopP>(p_.top_p));
    if (p_.min_p > 0.0f) chain_.push_back(std::make_unique<MinP>(p_.min_p));
  }
  chain_.push_back(std::make_unique<Temperature>(p_.temperature));
}

Sampler::~Sampler() = default;
Sampler::Sampler(Sampler&&) noexcept = default;
Sampler& Sampler::operator=(Sampler&&) noexcept = default;

void Sampler::run_chain(const float* logits, int32_t n_vocab) {
  cands_->assign(logits, n_vocab);
  for (auto& step : chain_) step->apply(*cands_);
}

int32_t Sampler::sample(const float* logits, int32_t n_vocab) {
  run_chain(logits, n_vocab);
  return sampling::draw(*cands_, rng_());
}

std::vector<TokenProb> Sampler::distribution(const float* logits, int32_t n_vocab) {
  run_chain(logits, n_vocab);
  sampling::Candidates& c = *cands_;
  c.softmax();
  std::vector<TokenProb> out;
  out.reserve(c.size());
  for (const sampling::Candidate& x : c.data)
    if (x.p > 0.0f) out.push_back({x.id, x.p});
  std::sort(out.begin(), out.end(),
            [](const TokenProb& a, const TokenProb& b) { return a.p > b.p || (a.p == b.p && a.id < b.id); });
  return out;
}

int Sampler::candidate_limit() const {
  // Greedy: the argmax. Otherwise top-k keeps the k highest first; top-p, min-p and the draw only look at those.
  if (p_.temperature <= 0.0f) return 1;
  return p_.top_k > 0 ? p_.top_k : 0;
}

std::vector<int32_t> Sampler::touched_tokens() const {
  std::vector<int32_t> out;
  for (const auto& [id, bias] : p_.logit_bias) out.push_back(id);
  if (penalties_) {
    std::vector<int32_t> window = penalties_->tokens();
    out.insert(out.end(), window.begin(), window.end());
  }
  return out;
}

void Sampler::accept(int32_t token) {
  for (auto& step : chain_) step->accept(token);
}

void Sampler::reset() {
  for (auto& step : chain_) step->reset();
  seed_ = pick_seed(p_.seed);  // as llama.cpp: a random seed is drawn afresh, a fixed one repeats
  rng_.seed(seed_);
}

}  // namespace hearth

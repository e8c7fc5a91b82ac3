// One sequence's generation after its prompt: sampling, end of generation, stop strings, UTF-8 and stop-string
// hold-back of the text handed out, and the counts. Shared by generate() (one sequence) and the batch
// scheduler (many sequences in one forward pass), which only differ in how logits are computed.
#pragma once
#include <chrono>
#include <functional>
#include <memory>
#include <span>
#include <string>

#include "hearth/generate.h"
#include "hearth/model.h"
#include "hearth/sampler.h"
#include "sampling/json_constraint.h"

namespace hearth {

class TokenStream {
 public:
  using OnText = std::function<bool(const std::string& text)>;
  using OnLogprob = std::function<void(const TokenLogprob& lp)>;
  // t0: when the request started (time to first token is measured from it).
  TokenStream(Model& model, const GenerateParams& params, std::span<const int32_t> prompt, OnText on_text,
              std::chrono::steady_clock::time_point t0);

  // Samples the next token from logits (n_vocab floats, left unchanged). Returns the token to evaluate next, or
  // -1 when the generation has ended (stats().stop_reason says why). n_past / n_ctx: the sequence's fill, for
  // the "context" stop.
  int32_t next(const float* logits, int n_past, int n_ctx);
  // The first n prompt tokens were not evaluated: their K/V came from an earlier request (prompt caching). The
  // statistics count them as cached, not as evaluated.
  void reuse_prefix(size_t n) {
    st_.n_cached = static_cast<int>(n);
    st_.n_prompt = n_prompt_ - static_cast<int>(n);
  }
  // Ends the generation early ("cancelled" unless a reason is given) without further text.
  void stop(const std::string& reason = "cancelled");
  bool done() const { return done_; }
  // Hands out the held-back text (unless cancelled) and returns the final statistics.
  GenerateStats finish();
  GenerateStats& stats() { return st_; }
  const Sampler& sampler() const { return sampler_; }
  // With params.logprobs >= 0: called for each generated token (not the end-of-generation token, nor one that
  // completes a stop string) before the text it adds is handed out.
  void set_on_logprob(OnLogprob f) { on_logprob_ = std::move(f); }

 private:
  bool emit();  // hands out what is final; false when on_text cancelled
  Model& model_;
  const GenerateParams& params_;
  Sampler sampler_;
  OnText on_text_;
  OnLogprob on_logprob_;
  std::vector<float> lp_work_;  // log-softmax scratch, only used when logprobs are asked for
  std::vector<float> work_;
  std::vector<int32_t> eog_;  // with ignore_eos or JSON mode: the end-of-generation tokens
  std::unique_ptr<sampling::JsonConstraint> json_;  // JSON mode
  std::string pending_;
  GenerateStats st_;
  int n_prompt_ = 0;  // the whole prompt
  std::chrono::steady_clock::time_point t0_, t_first_;
  bool done_ = false, finished_ = false;
};

}  // namespace hearth

// The generation loop shared by `hearth run`, chat, bench and the server: evaluate a prompt, then
// sample tokens until end of generation, a stop string, n_predict, or the caller says stop.
#pragma once
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "hearth/sampler.h"
#include "hearth/session.h"

namespace hearth {

struct GenerateParams {
  int n_predict = -1;              // -1: until end of generation or the context is full
  SamplerParams sampling;
  std::vector<std::string> stop;   // stop strings (not included in the output)
  int logprobs = -1;               // -1: off; N >= 0: each token's log-probability and its N most likely
                                   // alternatives (TokenLogprob), computed only when asked
  bool ignore_eos = false;         // end-of-generation tokens are never sampled (llama.cpp's ignore_eos)
  bool json = false;               // JSON mode: the output is constrained to one JSON value (then it ends):
  std::string json_schema;         //   one of this JSON schema (JSON text, see check_json_schema), or any object
  bool cache_prompt = true;        // Scheduler: reuse the K/V of the longest prefix of the prompt that a free
                                   // sequence holds from an earlier request (llama.cpp server's cache_prompt),
                                   // so a chat's next turn evaluates only what is new
};

// A generated token's log-probability in the model's distribution: the log-softmax of the raw logits, before
// penalties, logit bias and temperature (OpenAI's and llama.cpp server's default meaning), and the most likely
// tokens of that distribution.
struct TokenLogprob {
  int32_t id = -1;
  float logprob = 0;                           // <= 0
  std::vector<std::pair<int32_t, float>> top;  // (id, logprob), most likely first (ties: lowest id)
};

struct GenerateStats {
  int n_prompt = 0;        // prompt tokens evaluated (after any cached prefix)
  int n_cached = 0;        // prompt tokens whose K/V an earlier request left in the sequence (reused, not evaluated)
  double prompt_ms = 0;
  int n_gen = 0;           // tokens generated
  double gen_ms = 0;       // from the first sampled token to the last
  double ttft_ms = 0;      // from the call to the first token
  std::string stop_reason; // "eog", "length", "stop", "context", "cancelled"
  std::vector<int32_t> tokens;  // generated ids
  int n_drafted = 0;       // speculative decoding: tokens the draft model proposed
  int n_accepted = 0;      // and those the model accepted
};

// Throws hearth::Error when schema_json is not a JSON schema generation can be constrained to (the subset of
// src/sampling/json_schema.h; the message names what is not supported), or exceeds the limits a schema from
// anyone must keep (nesting 64 levels of arrays and objects, 10,000 JSON values, 1,000 members in one object;
// the message names the limit).
void check_json_schema(const std::string& schema_json);

// on_text receives the generated text in pieces as it becomes final (a stop string candidate is held back
// until resolved); returning false cancels. The prompt is appended to sequence seq of the session.
GenerateStats generate(Session& session, std::span<const int32_t> prompt, const GenerateParams& params,
                       const std::function<bool(const std::string& text)>& on_text, int seq = 0);

// Speculative decoding (llama.cpp's --model-draft): draft, a small model with the same vocabulary, proposes up to
// n_draft tokens greedily; the model evaluates them all in one forward pass and keeps them for as long as its own
// choice (sampled as generate() samples, from the same distributions) agrees, then takes its own token. The
// output is what generate() gives with the same settings and seed; it costs fewer passes of the large model
// when the draft guesses well. Both sessions start empty (sequence 0). Throws hearth::Error when the
// vocabularies differ.
GenerateStats generate_speculative(Session& session, Session& draft, std::span<const int32_t> prompt,
                                   const GenerateParams& params, int n_draft,
                                   const std::function<bool(const std::string& text)>& on_text);
// Throws hearth::Error naming the first difference when draft cannot draft for model (another vocabulary).
void check_draft_vocab(const Model& model, const Model& draft);

}  // namespace hearth

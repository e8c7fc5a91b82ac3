#include "hearth/choices.h"

#include <algorithm>
#include <cmath>

#include "hearth/error.h"
#include "hearth/perplexity.h"
#include "hearth/session.h"

namespace hearth {

std::vector<ChoiceScore> score_choices(Model& model, std::span<const int32_t> prompt,
                                       const std::vector<std::string>& choices) {
  if (choices.empty()) throw Error("choices: none given");
  if (prompt.empty()) throw Error("choices: the prompt is empty");
  std::vector<ChoiceScore> out(choices.size());
  size_t longest = 0, total = 0;
  for (size_t j = 0; j < choices.size(); ++j) {
    out[j].text = choices[j];
    out[j].tokens = model.tokenize(choices[j], false, false);
    if (out[j].tokens.empty()) throw Error("choices: choice " + std::to_string(j + 1) + " is empty");
    longest = std::max(longest, out[j].tokens.size());
    total += out[j].tokens.size();
  }
  const int n_ctx = static_cast<int>(prompt.size() + longest);
  if (n_ctx > model.info().n_ctx_train)
    throw Error("choices: the prompt (" + std::to_string(prompt.size()) + " tokens) and the longest choice (" +
                std::to_string(longest) + ") exceed the model's context of " + std::to_string(model.info().n_ctx_train));
  SessionParams sp;
  sp.n_ctx = n_ctx;
  sp.n_seq = static_cast<int>(choices.size());
  sp.n_batch = static_cast<int>(std::max<size_t>(512, total));  // the prompt is split into passes of it
  Session s(model, sp);
  const int V = s.n_vocab();
  // The prompt once, in sequence 0; its last logits score every choice's first token.
  const float* last = s.decode(prompt, 0);
  const std::vector<float> after_prompt(last, last + V);
  for (int j = 1; j < sp.n_seq; ++j) s.copy_sequence(0, j, static_cast<int>(prompt.size()));
  // Every choice's tokens but its last, each choice in its own sequence, in one pass: each gives the logits that
  // score the token after it. (Choices of one token need no pass.)
  std::vector<BatchToken> batch;
  for (size_t j = 0; j < out.size(); ++j)
    for (size_t i = 0; i + 1 < out[j].tokens.size(); ++i)
      batch.push_back({out[j].tokens[i], static_cast<int32_t>(j), true});
  std::vector<float> rows(batch.size() * static_cast<size_t>(V));
  if (!batch.empty()) s.decode_batch(batch, rows.data());
  size_t row = 0;
  double best = -INFINITY;
  for (ChoiceScore& c : out) {
    c.logprob = log_prob(after_prompt, c.tokens[0]);
    for (size_t i = 1; i < c.tokens.size(); ++i)
      c.logprob += log_prob(std::span<const float>(rows.data() + row++ * V, V), c.tokens[i]);
    best = std::max(best, c.logprob);
  }
  double sum = 0;
  for (ChoiceScore& c : out) sum += c.probability = std::exp(c.logprob - best);
  for (ChoiceScore& c : out) c.probability /= sum;
  return out;
}

}  // namespace hearth

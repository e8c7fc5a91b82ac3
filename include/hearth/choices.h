// Choosing among given answers in one scoring pass: for a classification ("privileged / not privileged",
// "urgent / routine / none"), the probability of each answer as the continuation of the prompt, instead of
// sampling text and parsing it.
#pragma once
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "hearth/model.h"

namespace hearth {

struct ChoiceScore {
  std::string text;
  std::vector<int32_t> tokens;  // the choice tokenized alone (no BOS), as it follows the prompt
  double logprob = 0;           // sum of its tokens' log-probabilities after the prompt
  double probability = 0;       // softmax of logprob over the choices: they sum to 1
};

// Scores every choice as the continuation of prompt (token ids, BOS included as wanted). The prompt is evaluated
// once; then one forward pass evaluates every choice's tokens together, each in its own sequence holding a copy of
// the prompt's K/V. Throws hearth::Error for no choices, an empty choice or a prompt and choice longer than the
// training context.
std::vector<ChoiceScore> score_choices(Model& model, std::span<const int32_t> prompt,
                                       const std::vector<std::string>& choices);

}  // namespace hearth

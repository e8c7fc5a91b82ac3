// Per-token log-probabilities in OpenAI's response shapes: chat ("logprobs": {"content": [{token, logprob, bytes,
// top_logprobs}]}) and legacy completions ({tokens, token_logprobs, top_logprobs, text_offset}).
#pragma once
#include <cstddef>
#include <vector>

#include <nlohmann/json.hpp>

#include "hearth/generate.h"
#include "hearth/model.h"

namespace hearth::serve {

// {"content": [...]} for the tokens of lps (in order).
nlohmann::json chat_logprobs(const Model& model, const std::vector<TokenLogprob>& lps);
// The completions object; text_offset: the offset in the generated text of the first token, advanced past lps.
nlohmann::json completion_logprobs(const Model& model, const std::vector<TokenLogprob>& lps, size_t& text_offset);

}  // namespace hearth::serve

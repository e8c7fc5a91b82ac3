// Per-token log-probabilities in OpenAI's response shapes: chat ("logprobs": {"content": [{token, logprob, bytes,
// top_logprobs}]}) and legacy completions ({tokens, token_logprobs, top_logprobs, text_offset}).
#pragma once
#include <cstddef>
#include <vector>

#include <nlohmann/json.hpp>

#include "hearth/generate.h"
#include "hearth/model.h"

namespace hearth::serve {

// What a request asks for, as GenerateParams::logprobs (-1: off). Chat style (OpenAI chat, Ollama): "logprobs": true
// and "top_logprobs": 0-20; completions style: "logprobs": 0-20 (the number of alternatives; 0: only the chosen
// token's). Throws ApiError 400 for values out of range.
int parse_logprobs_request(const nlohmann::json& body, bool chat_style);
// {"content": [...]} for the tokens of lps (in order).
nlohmann::json chat_logprobs(const Model& model, const std::vector<TokenLogprob>& lps);
// The completions object; text_offset: the offset in the generated text of the first token, advanced past lps.
nlohmann::json completion_logprobs(const Model& model, const std::vector<TokenLogprob>& lps, size_t& text_offset);

}  // namespace hearth::serve

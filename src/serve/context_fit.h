// A prompt that does not fit the context is an error naming the numbers, never silently cut; truncation only
// when the request asks for it ("truncate": true), and then the response says how many tokens were dropped.
#pragma once
#include <cstdint>
#include <vector>

#include "hearth/chat.h"
#include "hearth/model.h"

namespace hearth::serve {

// Tokens at the start of a prompt that truncation keeps: the system messages' part of the chat prompt when
// the full prompt starts with it, else the BOS token (if any).
int protected_prefix(const Model& model, const std::vector<int32_t>& tokens, const std::vector<ChatMessage>& messages);

// Makes tokens fit a context of n_ctx positions. The prompt must leave room for one generated token, or for
// max_tokens when the client set it (> 0; OpenAI's rule). When it does not fit: without truncate a 400 ApiError
// (code context_length_exceeded) with the numbers; with truncate the first keep tokens and the most recent ones
// stay, and the prompt is cut to leave room for max_tokens (at most half the context) or, without max_tokens, a
// quarter of the context. Returns the number of tokens dropped.
int fit_context(std::vector<int32_t>& tokens, int n_ctx, int max_tokens, bool truncate, int keep);

}  // namespace hearth::serve

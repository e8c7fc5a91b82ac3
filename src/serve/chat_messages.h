// The "messages" array of a chat request (OpenAI and Ollama share its shape).
#pragma once
#include <vector>

#include "hearth/chat.h"
#include "serve/json_fields.h"

namespace hearth::serve {

// Roles system/developer/user/assistant; content a string or (OpenAI) an array of {"type":"text"} parts.
// Throws a 400 ApiError naming the message and field that is wrong. allow_empty: Ollama loads the model
// for an empty conversation.
std::vector<ChatMessage> parse_messages(const json& body, bool allow_empty = false);

}  // namespace hearth::serve

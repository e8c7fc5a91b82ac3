// The interactive chat of `hearth run` without a prompt.
#pragma once
#include <string>
#include <vector>

#include "hearth/generate.h"
#include "hearth/model.h"
#include "hearth/session.h"

namespace hearth::cli {

std::vector<int32_t> tokenize_chat(const Model& model, const std::vector<ChatMessage>& messages);
// Reads user turns from stdin until EOF (Ctrl-D); Ctrl-C stops the current reply.
int chat_loop(Model& model, Session& session, const GenerateParams& gp, const std::string& system);

}  // namespace hearth::cli

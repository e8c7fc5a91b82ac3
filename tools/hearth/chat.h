// The interactive chat of `hearth run` without a prompt, over one process's Session or an MPI pipeline.
#pragma once
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "hearth/generate.h"
#include "hearth/model.h"
#include "hearth/session.h"

namespace hearth::cli {

std::vector<int32_t> tokenize_chat(const Model& model, const std::vector<ChatMessage>& messages);

// How the chat runs a turn: evaluates `tokens` after the first n_past positions of the conversation's cache and
// generates the reply into on_text; returns its statistics and how many positions the cache holds afterwards.
struct ChatTurn {
  GenerateStats stats;
  int n_cached = 0;
};
using ChatTurnFn = std::function<ChatTurn(std::span<const int32_t> tokens, int n_past, const GenerateParams& gp,
                                          const std::function<bool(const std::string&)>& on_text)>;

// Reads user turns from stdin until EOF (Ctrl-D); Ctrl-C stops the current reply. n_ctx: the conversation's
// context. first_message: the first user turn, before stdin is read (llama.cpp's -cnv -p PROMPT).
int chat_loop(const Model& model, int n_ctx, const ChatTurnFn& turn, const GenerateParams& gp,
              const std::string& system, const std::string& first_message = {});
// The chat on one Session (sequence 0), its KV cache reused across turns.
int chat_loop(Model& model, Session& session, const GenerateParams& gp, const std::string& system,
              const std::string& first_message = {});

}  // namespace hearth::cli

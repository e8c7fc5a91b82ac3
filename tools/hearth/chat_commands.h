// The chat's slash commands, as `ollama run` has them: /? (help), /bye, /clear, /set system TEXT,
// /set parameter NAME VALUE (temperature, top_k, top_p, min_p, repeat_penalty, repeat_last_n, presence_penalty,
// frequency_penalty, seed, num_predict), /show info | parameters | system.
#pragma once
#include <ostream>
#include <string>
#include <vector>

#include "hearth/chat.h"
#include "hearth/generate.h"
#include "hearth/model.h"

namespace hearth::cli {

// What a conversation is: its messages (a system message first, when there is one) and the generation settings.
struct ChatState {
  std::vector<ChatMessage> messages;
  GenerateParams gp;
};

enum class ChatCommand { NotACommand, Done, Quit };

// Runs `line` when it is a command (it starts with '/'), writing what it says to out; messages and settings
// change in `st`. A mistake (unknown command, bad value) is said on out and changes nothing.
ChatCommand run_chat_command(const std::string& line, const Model& model, int n_ctx, ChatState& st, std::ostream& out);

}  // namespace hearth::cli

#include "chat.h"

#include "chat_commands.h"
#include "runtime/prefix_cache.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <csignal>
#include <cstdio>
#include <iostream>
#include <sstream>

namespace hearth::cli {
namespace {

std::atomic<bool> g_generating{false};
std::atomic<bool> g_interrupted{false};

// A message of several lines between """ and """ (as in `ollama run`); false at end of input.
bool read_message(std::string& line) {
  const std::string quotes = "\"\"\"";
  if (!std::getline(std::cin, line)) return false;
  if (line.rfind(quotes, 0) != 0) return true;
  auto closed = [&](const std::string& t) { return t.size() >= 3 && t.compare(t.size() - 3, 3, quotes) == 0; };
  std::string text = line.substr(3), next;
  while (!closed(text) && std::getline(std::cin, next)) text += "\n" + next;
  if (closed(text)) text.resize(text.size() - 3);
  line = text;
  return true;
}

void on_sigint(int) {
  if (!g_generating.load()) {
    const char nl = '\n';
    (void)!write(STDOUT_FILENO, &nl, 1);
    _exit(130);
  }
  g_interrupted.store(true);
}

}  // namespace

std::vector<int32_t> tokenize_chat(const Model& model, const std::vector<ChatMessage>& messages) {
  return model.tokenize_chat(messages, true);
}

int chat_loop(const Model& model, int n_ctx, const ChatTurnFn& turn, const GenerateParams& gp,
              const std::string& system, const std::string& first_message) {
  std::signal(SIGINT, on_sigint);
  const bool tty = isatty(STDIN_FILENO);
  ChatState st;
  st.gp = gp;
  std::vector<ChatMessage>& messages = st.messages;
  if (!system.empty()) messages.push_back({"system", system});
  std::vector<int32_t> cached;  // tokens whose keys and values are in the KV cache
  std::fprintf(stderr, "hearth: chat (%s template). Ctrl-C stops a reply, Ctrl-D or /bye quits, /? lists commands.\n",
               model.chat_format_name().c_str());
  std::string line, first = first_message;
  for (;;) {
    if (!first.empty()) {
      line.swap(first);
      first.clear();
      if (tty) std::printf("> %s\n", line.c_str());
    } else {
      if (tty) std::fputs("> ", stdout), std::fflush(stdout);
      if (!read_message(line)) break;
    }
    if (line.empty()) continue;
    std::ostringstream said;
    const ChatCommand c = run_chat_command(line, model, n_ctx, st, said);
    std::fputs(said.str().c_str(), stdout);
    if (c == ChatCommand::Quit) break;
    if (c == ChatCommand::Done) continue;
    messages.push_back({"user", line});
    std::vector<int32_t> tokens = model.tokenize_chat(messages, true);
    // Reuse the cached prefix; evaluate only what is new.
    size_t common = common_prefix(cached, tokens);
    if (common == tokens.size()) --common;  // the last token is evaluated: its logits start the reply
    if (static_cast<int>(tokens.size()) >= n_ctx) {
      std::fprintf(stderr, "hearth: the conversation (%zu tokens) no longer fits the context (%d); start a new one "
                   "with a larger -c\n", tokens.size(), n_ctx);
      messages.pop_back();
      continue;
    }
    std::string reply;
    g_interrupted = false;
    g_generating = true;
    ChatTurn t = turn(std::span<const int32_t>(tokens).subspan(common), static_cast<int>(common), st.gp,
                      [&](const std::string& text) {
                        std::fwrite(text.data(), 1, text.size(), stdout);
                        std::fflush(stdout);
                        reply += text;
                        return !g_interrupted.load();
                      });
    g_generating = false;
    std::fputc('\n', stdout);
    tokens.insert(tokens.end(), t.stats.tokens.begin(), t.stats.tokens.end());
    tokens.resize(std::min(tokens.size(), static_cast<size_t>(t.n_cached)));
    cached = tokens;
    messages.push_back({"assistant", reply});
  }
  return 0;
}

int chat_loop(Model& model, Session& session, const GenerateParams& gp, const std::string& system,
              const std::string& first_message) {
  auto turn = [&](std::span<const int32_t> tokens, int n_past, const GenerateParams& p,
                  const std::function<bool(const std::string&)>& on_text) {
    session.truncate(0, n_past);
    ChatTurn t;
    t.stats = generate(session, tokens, p, on_text);
    t.n_cached = session.n_past(0);
    return t;
  };
  return chat_loop(model, session.n_ctx(), turn, gp, system, first_message);
}

}  // namespace hearth::cli

#include "serve/context_fit.h"

#include <algorithm>
#include <string>

#include "serve/api_error.h"

namespace hearth::serve {

int protected_prefix(const Model& model, const std::vector<int32_t>& tokens, const std::vector<ChatMessage>& messages) {
  const int bos = !tokens.empty() && tokens[0] == model.bos() ? 1 : 0;
  std::vector<ChatMessage> system;
  for (const ChatMessage& m : messages) {
    if (m.role != "system" && m.role != "developer") break;
    system.push_back(m);
  }
  if (system.empty()) return bos;
  // The template renders the system messages the same way at the start of the whole conversation; when its
  // tokens are a prefix of the full prompt, that prefix is what to keep.
  const std::vector<int32_t> sys = model.tokenize_chat(system, false);
  if (sys.size() < tokens.size() && std::equal(sys.begin(), sys.end(), tokens.begin())) return static_cast<int>(sys.size());
  return bos;
}

int fit_context(std::vector<int32_t>& tokens, int n_ctx, int max_tokens, bool truncate, int keep) {
  const int n = static_cast<int>(tokens.size());
  const int need = max_tokens > 0 ? max_tokens : 1;
  if (static_cast<long long>(n) + need <= n_ctx) return 0;
  if (!truncate) {
    std::string msg = "the prompt has " + std::to_string(n) + " tokens";
    if (max_tokens > 0)
      msg += " and max_tokens asks for " + std::to_string(max_tokens) + " more: " + std::to_string(n + max_tokens) +
             " tokens exceed the context of " + std::to_string(n_ctx) + " tokens";
    else
      msg += ", more than the context of " + std::to_string(n_ctx) + " tokens leaves room for (at most " +
             std::to_string(n_ctx - 1) + ")";
    msg += "; shorten the prompt";
    if (max_tokens > 0) msg += " or max_tokens";
    msg += ", or send \"truncate\": true to drop the oldest tokens";
    throw bad_request(msg, "context_length_exceeded");
  }
  const int room = max_tokens > 0 ? std::min(max_tokens, n_ctx / 2) : n_ctx / 4;
  const int target = std::max(1, n_ctx - std::max(1, room));
  keep = std::clamp(keep, 0, n);
  if (keep >= target) keep = std::min(keep, 1);  // a system prompt longer than the room: keep only BOS
  if (keep >= target)
    throw bad_request("the context of " + std::to_string(n_ctx) + " tokens is too small to truncate the prompt into",
                      "context_length_exceeded");
  const int dropped = n - target;
  tokens.erase(tokens.begin() + keep, tokens.begin() + keep + dropped);
  return dropped;
}

}  // namespace hearth::serve

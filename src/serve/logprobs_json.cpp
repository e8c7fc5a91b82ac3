#include "serve/logprobs_json.h"

#include "serve/api_error.h"
#include "serve/json_fields.h"

#include <cmath>
#include <string>

namespace hearth::serve {
namespace {

using json = nlohmann::json;

// JSON has no -inf: OpenAI reports an impossible token as -9999.
double finite(float lp) { return std::isfinite(lp) ? lp : -9999.0; }

json bytes_of(const std::string& s) {
  json b = json::array();
  for (unsigned char c : s) b.push_back(static_cast<int>(c));
  return b;
}

json chat_token(const Model& model, int32_t id, float lp) {
  const std::string piece = model.token_to_piece(id);
  return {{"token", piece}, {"logprob", finite(lp)}, {"bytes", bytes_of(piece)}};
}

}  // namespace

int parse_logprobs_request(const json& body, bool chat_style) {
  if (chat_style) {
    const bool on = get_bool(body, "logprobs").value_or(false);
    auto top = get_integer(body, "top_logprobs");
    if (top && (*top < 0 || *top > 20))
      throw bad_request("'top_logprobs' must be between 0 and 20, got " + std::to_string(*top), "invalid_value");
    if (top && !on) throw bad_request("'top_logprobs' needs 'logprobs': true", "invalid_value");
    return on ? static_cast<int>(top.value_or(0)) : -1;
  }
  auto n = get_integer(body, "logprobs");
  if (n && (*n < 0 || *n > 20))
    throw bad_request("'logprobs' must be between 0 and 20, got " + std::to_string(*n), "invalid_value");
  return n ? static_cast<int>(*n) : -1;
}

json chat_logprobs(const Model& model, const std::vector<TokenLogprob>& lps) {
  json content = json::array();
  for (const TokenLogprob& t : lps) {
    json e = chat_token(model, t.id, t.logprob);
    json top = json::array();
    for (const auto& [id, lp] : t.top) top.push_back(chat_token(model, id, lp));
    e["top_logprobs"] = top;
    content.push_back(e);
  }
  return {{"content", content}, {"refusal", nullptr}};
}

json completion_logprobs(const Model& model, const std::vector<TokenLogprob>& lps, size_t& text_offset) {
  json tokens = json::array(), token_logprobs = json::array(), top = json::array(), offsets = json::array();
  for (const TokenLogprob& t : lps) {
    const std::string piece = model.token_to_piece(t.id);
    tokens.push_back(piece);
    token_logprobs.push_back(finite(t.logprob));
    json alts = json::object();
    // Two tokens may share a piece text: the more likely one (listed first) keeps the key.
    for (const auto& [id, lp] : t.top) {
      const std::string alt = model.token_to_piece(id);
      if (!alts.contains(alt)) alts[alt] = finite(lp);
    }
    top.push_back(alts);
    offsets.push_back(text_offset);
    text_offset += model.token_to_piece(t.id, false).size();  // a control token adds no text
  }
  return {{"tokens", tokens}, {"token_logprobs", token_logprobs}, {"top_logprobs", top}, {"text_offset", offsets}};
}

}  // namespace hearth::serve

// Server-sent events of OpenAI-API completions: text pieces, usage and llama-server's timings.
#include "eval/sse_stream.h"

#include <nlohmann/json.hpp>

namespace hearth::eval {
namespace {

constexpr size_t kMaxBody = 4 << 20;  // a non-streamed body larger than this is not a completion

std::string snippet(const std::string& s) { return s.size() > 120 ? s.substr(0, 120) + "..." : s; }

double ms_between(SseStream::Clock::time_point a, SseStream::Clock::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}

std::string trim(const std::string& s) {
  const size_t b = s.find_first_not_of(" \t\r\n");
  if (b == std::string::npos) return "";
  return s.substr(b, s.find_last_not_of(" \t\r\n") - b + 1);
}

int int_field(const nlohmann::json& o, const char* key) {
  return o.contains(key) && o[key].is_number_integer() ? o[key].get<int>() : -1;
}

}  // namespace

bool SseStream::feed(const char* data, size_t n, Clock::time_point now) {
  if (!error_.empty()) return false;
  buf_.append(data, n);
  if (!saw_event_ && body_.size() < kMaxBody) body_.append(data, n);
  for (size_t nl; (nl = buf_.find('\n')) != std::string::npos;) {
    std::string line = buf_.substr(0, nl);
    buf_.erase(0, nl + 1);
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.rfind("data:", 0) != 0) continue;  // event:, id:, comments, blank separators
    saw_event_ = true;
    body_.clear();
    if (!event(trim(line.substr(5)), now)) return false;
  }
  return true;
}

bool SseStream::event(const std::string& payload, Clock::time_point now) {
  if (payload == "[DONE]") {
    done_ = true;
    return true;
  }
  return chunk(payload, now);
}

bool SseStream::chunk(const std::string& json_text, Clock::time_point now) {
  const nlohmann::json j = nlohmann::json::parse(json_text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    error_ = "malformed JSON from server: '" + snippet(json_text) + "'";
    return false;
  }
  if (j.contains("error")) {
    const nlohmann::json& e = j["error"];
    const bool has_message = e.is_object() && e.contains("message") && e["message"].is_string();
    error_ = "server error: " + (has_message ? e["message"].get<std::string>() : snippet(e.dump()));
    return false;
  }
  if (j.contains("choices") && j["choices"].is_array() && !j["choices"].empty() && j["choices"][0].is_object()) {
    const nlohmann::json& c = j["choices"][0];
    std::string piece;
    for (const char* holder : {"delta", "message"})
      if (c.contains(holder) && c[holder].is_object() && c[holder].contains("content") &&
          c[holder]["content"].is_string())
        piece = c[holder]["content"].get<std::string>();
    if (c.contains("text") && c["text"].is_string()) piece = c["text"].get<std::string>();
    if (!piece.empty()) {
      if (pieces_ == 0) first_ = now;
      last_ = now;
      ++pieces_;
      text_ += piece;
    }
  }
  if (j.contains("usage") && j["usage"].is_object()) {
    if (int v = int_field(j["usage"], "prompt_tokens"); v >= 0) usage_prompt_ = v;
    if (int v = int_field(j["usage"], "completion_tokens"); v >= 0) usage_completion_ = v;
  }
  if (j.contains("timings") && j["timings"].is_object()) {  // llama-server: its own prompt timing
    const nlohmann::json& t = j["timings"];
    if (t.contains("prompt_per_second") && t["prompt_per_second"].is_number())
      server_prompt_tps_ = t["prompt_per_second"].get<double>();
  }
  return true;
}

Measurement SseStream::finish(Clock::time_point now) {
  if (!saw_event_ && error_.empty()) {
    const std::string body = trim(body_);
    if (body.empty())
      error_ = "empty response from server";
    else if (chunk(body, now))
      done_ = true;
  }
  Measurement m;
  m.total_ms = ms_between(start_, now);
  m.text = text_;
  m.gen_tokens = usage_completion_ >= 0 ? usage_completion_ : pieces_;
  m.prompt_tokens = std::max(usage_prompt_, 0);
  if (pieces_ > 0) m.ttft_ms = ms_between(start_, first_);
  if (m.gen_tokens > 1 && last_ > first_) m.gen_tps = (m.gen_tokens - 1) * 1000.0 / ms_between(first_, last_);
  if (server_prompt_tps_ == server_prompt_tps_)
    m.prompt_tps = server_prompt_tps_;
  else if (m.prompt_tokens > 0 && pieces_ > 0 && m.ttft_ms > 0)
    m.prompt_tps = m.prompt_tokens * 1000.0 / m.ttft_ms;
  if (error_.empty() && !done_) error_ = "stream ended before [DONE]";
  if (!error_.empty()) {
    m.ok = false;
    m.error = error_;
  }
  return m;
}

}  // namespace hearth::eval

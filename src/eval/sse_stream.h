// The measurement of one streamed OpenAI-API response, fed the body in pieces as they arrive: server-sent
// events ("data: {...}" lines, "data: [DONE]"), or one JSON body from a server that does not stream.
#pragma once
#include <chrono>
#include <string>

#include "eval/target.h"

namespace hearth::eval {

class SseStream {
 public:
  using Clock = std::chrono::steady_clock;
  explicit SseStream(Clock::time_point start) : start_(start) {}

  // Returns false when the stream is unusable (malformed JSON, an "error" object); error() says why.
  bool feed(const char* data, size_t n, Clock::time_point now);
  // Completes the measurement at the end of the response (total time = now - start).
  Measurement finish(Clock::time_point now);
  const std::string& error() const { return error_; }

 private:
  bool event(const std::string& payload, Clock::time_point now);
  bool chunk(const std::string& json_text, Clock::time_point now);

  Clock::time_point start_, first_{}, last_{};
  std::string buf_, body_, error_, text_;
  bool saw_event_ = false, done_ = false;
  int pieces_ = 0;  // chunks that carried text
  int usage_prompt_ = -1, usage_completion_ = -1;
  double server_prompt_tps_ = kUnknown;
};

}  // namespace hearth::eval

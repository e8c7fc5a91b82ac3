// One thing an evaluation measures: a local model or an OpenAI-API endpoint, behind one interface.
#pragma once
#include <cstdint>
#include <functional>
#include <limits>
#include <string>

namespace hearth::eval {

struct Request {
  std::string prompt;
  int max_tokens = 128;
  double temperature = 0;
  uint64_t seed = 42;
  bool ignore_eos = false;  // generate max_tokens whatever the model says (equal work across targets)
  bool chat = false;        // the model's chat template (/v1/chat/completions) instead of a raw completion
};

constexpr double kUnknown = std::numeric_limits<double>::quiet_NaN();

// What one request gave. A failed request has ok = false and an error; what it measured stays.
struct Measurement {
  bool ok = true;
  std::string error;
  int prompt_tokens = 0;
  double prompt_tps = kUnknown;  // prompt tokens per second
  int gen_tokens = 0;
  double gen_tps = kUnknown;  // generated tokens per second, first token to last
  double ttft_ms = kUnknown;  // request start to the first generated token
  double total_ms = kUnknown;
  std::string text;  // the generated text
};

class Target {
 public:
  virtual ~Target() = default;
  virtual std::string device() const = 0;  // "CPU", "CUDA0", "endpoint 127.0.0.1:8080"
  virtual int n_gpu_layers() const = 0;    // -1: unknown (endpoint)
  // Whether the machine's energy readers see this target's work (a local model or a local server).
  virtual bool local_energy() const = 0;
  // Runs one request; per-request failures come back in the Measurement, not as exceptions.
  // stop() is polled while generating; true cancels the request (ok = false, error "cancelled").
  virtual Measurement run(const Request& request, const std::function<bool()>& stop) = 0;
};

}  // namespace hearth::eval

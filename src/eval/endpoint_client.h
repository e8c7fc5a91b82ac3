// A target that is any OpenAI-API server (llama.cpp's llama-server, Ollama, vLLM): one streamed
// /v1/completions (or /v1/chat/completions) request per measurement, timed on the client.
#pragma once
#include <memory>
#include <string>

#include "eval/target.h"

namespace hearth::eval {

struct EndpointOptions {
  std::string url;         // "http://127.0.0.1:8080" (a trailing /v1 is accepted)
  std::string model;       // the served model's name ("model" field)
  double timeout_s = 300;  // per request: no byte for this long, or the whole request longer, fails it
  std::string api_key;     // sent as a Bearer token when not empty
};

// Throws hearth::Error for a URL it cannot use (or when built without cpp-httplib); a server that is down is
// a per-request error, not an exception.
std::unique_ptr<Target> make_endpoint_target(const EndpointOptions& options);

}  // namespace hearth::eval

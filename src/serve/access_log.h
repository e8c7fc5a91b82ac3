// One line per HTTP request, after its response has been sent (streams included), as Ollama's server logs them:
//   2026-11-23T14:50:01Z 200 1.234s 127.0.0.1 POST /v1/chat/completions
// Time (UTC), status, duration, client address, method, path. Never a prompt, a reply or a query string: what
// people send stays out of the logs.
#pragma once
#include <chrono>
#include <string>

namespace hearth::serve {

// seconds < 0: unknown (the request failed before it was routed).
std::string access_log_line(std::chrono::system_clock::time_point when, int status, double seconds,
                            const std::string& client, const std::string& method, const std::string& path);

}  // namespace hearth::serve

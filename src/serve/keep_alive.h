// Keep-alive durations, as Ollama takes them: how long a model stays loaded after a request.
#pragma once
#include <chrono>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

namespace hearth::serve {

using KeepAlive = std::chrono::milliseconds;  // negative: forever; zero: unload as soon as the request ends

// A Go-style duration ("10m", "1h30m", "30s", "250ms", "1.5h", "-1m"), a bare number of seconds ("300", "-1"), or
// "forever"/"inf". Throws hearth::Error naming the text when it is none of these.
KeepAlive parse_duration(const std::string& text);

// The keep_alive field of a request: nullopt when absent or null; a string as parse_duration; a number as
// seconds. A wrong type or text is a 400 ApiError.
std::optional<KeepAlive> parse_keep_alive(const nlohmann::json& body);

}  // namespace hearth::serve

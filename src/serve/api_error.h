// An HTTP API error: the status and the message a client sees, rendered in the style of the API that
// was called (OpenAI: {"error": {"message", "type", "code"}}, Ollama: {"error": "..."}).
#pragma once
#include <stdexcept>
#include <string>

#include <nlohmann/json.hpp>

namespace hearth::serve {

enum class ApiStyle { OpenAI, Ollama };

struct ApiError : std::runtime_error {
  ApiError(int status, const std::string& message, std::string type = "", std::string code = "")
      : std::runtime_error(message), status(status), type(std::move(type)), code(std::move(code)) {}
  int status;
  std::string type;  // OpenAI error type; empty: derived from the status
  std::string code;  // OpenAI error code; empty: null
};

// 400 with an invalid_request_error.
inline ApiError bad_request(const std::string& message, const std::string& code = "") {
  return ApiError(400, message, "invalid_request_error", code);
}

inline std::string openai_error_type(int status) {
  switch (status) {
    case 401: return "authentication_error";
    case 404: return "not_found_error";
    case 413: return "invalid_request_error";
    case 501: return "not_implemented_error";
    default: return status >= 500 ? "server_error" : "invalid_request_error";
  }
}

inline nlohmann::json error_body(ApiStyle style, int status, const std::string& message,
                                 const std::string& type = "", const std::string& code = "") {
  if (style == ApiStyle::Ollama) return {{"error", message}};
  nlohmann::json e = {{"message", message}, {"type", type.empty() ? openai_error_type(status) : type}};
  e["code"] = code.empty() ? nlohmann::json(nullptr) : nlohmann::json(code);
  return {{"error", e}};
}

// The API a path belongs to (errors raised before routing, such as 401 and 413, use it).
inline ApiStyle style_of(const std::string& path) {
  return path.rfind("/api/", 0) == 0 ? ApiStyle::Ollama : ApiStyle::OpenAI;
}

}  // namespace hearth::serve

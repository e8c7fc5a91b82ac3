#include "serve/chat_messages.h"

#include "serve/api_error.h"

namespace hearth::serve {

std::vector<ChatMessage> parse_messages(const json& body, bool allow_empty) {
  const json* msgs = get_array(body, "messages");
  if (!msgs) throw bad_request("missing required field 'messages'", "missing_field");
  if (msgs->empty() && !allow_empty) throw bad_request("'messages' must not be empty");
  std::vector<ChatMessage> out;
  for (size_t i = 0; i < msgs->size(); ++i) {
    const json& m = (*msgs)[i];
    const std::string where = "messages[" + std::to_string(i) + "]";
    if (!m.is_object()) throw bad_request(where + " must be an object", "invalid_type");
    ChatMessage cm;
    auto role = m.find("role");
    if (role == m.end() || !role->is_string()) throw bad_request(where + ".role must be a string", "invalid_type");
    cm.role = role->get<std::string>();
    if (cm.role == "developer") cm.role = "system";
    if (cm.role != "system" && cm.role != "user" && cm.role != "assistant")
      throw bad_request(where + ".role '" + cm.role + "' is not supported (system, user, assistant)", "invalid_value");
    auto content = m.find("content");
    if (content == m.end() || content->is_null()) {
      cm.content = "";
    } else if (content->is_string()) {
      cm.content = content->get<std::string>();
    } else if (content->is_array()) {
      for (const json& part : *content) {
        if (!part.is_object() || part.value("type", "") != "text" || !part.contains("text") ||
            !part["text"].is_string())
          throw bad_request(where + ".content: only text parts ({\"type\": \"text\", \"text\": ...}) are supported",
                            "invalid_value");
        cm.content += part["text"].get<std::string>();
      }
    } else {
      throw bad_request(where + ".content must be a string or an array of text parts", "invalid_type");
    }
    if (m.contains("images") && !m["images"].is_null() && !(m["images"].is_array() && m["images"].empty()))
      throw bad_request(where + ": images are not supported by this model", "invalid_value");
    out.push_back(std::move(cm));
  }
  return out;
}

}  // namespace hearth::serve

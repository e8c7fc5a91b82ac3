// Measuring outside JSON without recursion: text nesting, and a schema document's depth and size (json_limits.h).
#include "sampling/json_limits.h"

#include <string>
#include <utility>
#include <vector>

#include "hearth/error.h"

namespace hearth::sampling {

int json_text_depth(std::string_view text, int limit) {
  int depth = 0, deepest = 0;
  bool in_string = false, escaped = false;
  for (const char c : text) {
    if (in_string) {
      if (escaped) escaped = false;
      else if (c == '\\') escaped = true;
      else if (c == '"') in_string = false;
      continue;
    }
    if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > deepest && (deepest = depth) > limit) return deepest;
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    }
  }
  return deepest;
}

void check_schema_limits(const nlohmann::json& schema) {
  // Depth first with an explicit stack of (value, depth): the document may be as deep as its parser allowed.
  std::vector<std::pair<const nlohmann::json*, int>> todo{{&schema, 0}};
  size_t values = 0;
  while (!todo.empty()) {
    const auto [j, depth] = todo.back();
    todo.pop_back();
    ++values;
    if (!j->is_structured()) continue;
    if (depth + 1 > kMaxSchemaDepth)
      throw Error("JSON schema: nested deeper than " + std::to_string(kMaxSchemaDepth) +
                  " levels of arrays and objects (hearth's limit)");
    if (j->is_object() && j->size() > kMaxSchemaMembers)
      throw Error("JSON schema: an object with " + std::to_string(j->size()) + " members, more than " +
                  std::to_string(kMaxSchemaMembers) + " (hearth's limit)");
    // Every value on the stack is counted later: a huge array is refused before it is pushed.
    if (values + todo.size() + j->size() > kMaxSchemaValues)
      throw Error("JSON schema: more than " + std::to_string(kMaxSchemaValues) + " JSON values (hearth's limit)");
    for (const nlohmann::json& child : *j) todo.emplace_back(&child, depth + 1);
  }
}

}  // namespace hearth::sampling

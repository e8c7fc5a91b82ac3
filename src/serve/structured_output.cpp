#include "serve/structured_output.h"

#include <vector>

#include "hearth/error.h"
#include "sampling/json_limits.h"
#include "serve/api_error.h"

namespace hearth::serve {
namespace {

using ordered_json = nlohmann::ordered_json;

// The JSON text of body[path...] with object keys in their written order. Only the members on the path are
// kept while parsing: keeping order costs time quadratic in an object's size, and the schema's own size has
// been checked (check_limits), the rest of the body's has not.
std::string ordered_text(const std::string& body_text, std::initializer_list<const char*> path) {
  const std::vector<std::string> keys(path.begin(), path.end());
  auto on_path = [&keys](int depth, ordered_json::parse_event_t event, ordered_json& parsed) {
    if (event == ordered_json::parse_event_t::key && depth >= 1 && depth <= static_cast<int>(keys.size()))
      return parsed.get<std::string>() == keys[static_cast<size_t>(depth) - 1];
    return true;
  };
  const ordered_json all = ordered_json::parse(body_text, on_path, false);
  const ordered_json* at = &all;
  for (const char* key : path) at = &(*at)[key];
  return at->dump();
}

// The schema's depth and size, before anything else reads it: a 400 naming the limit.
void check_limits(const json& schema, const char* field) {
  try {
    sampling::check_schema_limits(schema);
  } catch (const Error& e) {
    throw bad_request(std::string("'") + field + "': " + e.what(), "invalid_value");
  }
}

void use_schema(std::string schema, const char* field, GenerateParams& g) {
  try {
    check_json_schema(schema);
  } catch (const Error& e) {
    throw bad_request(std::string("'") + field + "': " + e.what(), "invalid_value");
  }
  g.json = true;
  g.json_schema = std::move(schema);
}

}  // namespace

void parse_response_format(const std::string& body_text, const json& body, GenerateParams& g) {
  const json* rf = get_object(body, "response_format");
  if (!rf) return;
  const std::string type = get_string(*rf, "type").value_or("text");
  if (type == "text") return;
  if (type == "json_object") {
    g.json = true;
    return;
  }
  if (type != "json_schema")
    throw bad_request("'response_format' type must be text, json_object or json_schema, got '" + type + "'",
                      "invalid_value");
  const json* js = get_object(*rf, "json_schema");
  const json* schema = js ? get_object(*js, "schema") : nullptr;
  if (!schema)
    throw bad_request("'response_format' json_schema needs a 'json_schema' object with a 'schema'", "missing_field");
  check_limits(*schema, "response_format");
  use_schema(ordered_text(body_text, {"response_format", "json_schema", "schema"}), "response_format", g);
}

void parse_ollama_format(const std::string& body_text, const json& body, GenerateParams& g) {
  auto f = body.find("format");
  if (f == body.end() || f->is_null() || (f->is_string() && f->get<std::string>().empty())) return;
  if (f->is_string() && f->get<std::string>() == "json") {
    g.json = true;
    return;
  }
  if (!f->is_object()) throw bad_request("'format' must be \"json\" or a JSON schema");
  check_limits(*f, "format");
  use_schema(ordered_text(body_text, {"format"}), "format", g);
}

}  // namespace hearth::serve

#include "serve/structured_output.h"

#include "hearth/error.h"
#include "serve/api_error.h"

namespace hearth::serve {
namespace {

// The JSON text of body[path...] with object keys in their written order.
std::string ordered_text(const std::string& body_text, std::initializer_list<const char*> path) {
  const nlohmann::ordered_json all = nlohmann::ordered_json::parse(body_text, nullptr, false);
  const nlohmann::ordered_json* at = &all;
  for (const char* key : path) at = &(*at)[key];
  return at->dump();
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
  if (!js || !get_object(*js, "schema"))
    throw bad_request("'response_format' json_schema needs a 'json_schema' object with a 'schema'", "missing_field");
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
  use_schema(ordered_text(body_text, {"format"}), "format", g);
}

}  // namespace hearth::serve

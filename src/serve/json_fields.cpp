#include "serve/json_fields.h"

#include <cmath>

#include "serve/api_error.h"

namespace hearth::serve {
namespace {

ApiError wrong_type(const char* key, const char* want, const json& got) {
  return bad_request(std::string("'") + key + "' must be " + want + ", got " + got.type_name(), "invalid_type");
}

const json* field(const json& obj, const char* key) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return nullptr;
  return &*it;
}

}  // namespace

json parse_body(const std::string& body) {
  json j;
  try {
    j = json::parse(body);
  } catch (const json::parse_error& e) {
    throw bad_request(std::string("malformed JSON in request body: ") + e.what(), "invalid_json");
  }
  if (!j.is_object()) throw bad_request(std::string("request body must be a JSON object, got ") + j.type_name());
  return j;
}

std::optional<std::string> get_string(const json& obj, const char* key) {
  const json* v = field(obj, key);
  if (!v) return std::nullopt;
  if (!v->is_string()) throw wrong_type(key, "a string", *v);
  return v->get<std::string>();
}

std::optional<double> get_number(const json& obj, const char* key) {
  const json* v = field(obj, key);
  if (!v) return std::nullopt;
  if (!v->is_number()) throw wrong_type(key, "a number", *v);
  return v->get<double>();
}

std::optional<long long> get_integer(const json& obj, const char* key) {
  const json* v = field(obj, key);
  if (!v) return std::nullopt;
  if (v->is_number_integer()) return v->get<long long>();
  if (v->is_number_float()) {
    const double d = v->get<double>();
    if (std::isfinite(d) && d == std::floor(d) && std::fabs(d) < 9e15) return static_cast<long long>(d);
  }
  throw wrong_type(key, "an integer", *v);
}

std::optional<bool> get_bool(const json& obj, const char* key) {
  const json* v = field(obj, key);
  if (!v) return std::nullopt;
  if (!v->is_boolean()) throw wrong_type(key, "a boolean", *v);
  return v->get<bool>();
}

const json* get_object(const json& obj, const char* key) {
  const json* v = field(obj, key);
  if (v && !v->is_object()) throw wrong_type(key, "an object", *v);
  return v;
}

const json* get_array(const json& obj, const char* key) {
  const json* v = field(obj, key);
  if (v && !v->is_array()) throw wrong_type(key, "an array", *v);
  return v;
}

std::string require_string(const json& obj, const char* key) {
  auto s = get_string(obj, key);
  if (!s) throw bad_request(std::string("missing required field '") + key + "'", "missing_field");
  return *s;
}

std::vector<std::string> get_stop(const json& obj, const char* key) {
  const json* v = field(obj, key);
  if (!v) return {};
  if (v->is_string()) return {v->get<std::string>()};
  if (!v->is_array()) throw wrong_type(key, "a string or an array of strings", *v);
  std::vector<std::string> out;
  for (const json& s : *v) {
    if (!s.is_string()) throw wrong_type(key, "a string or an array of strings", s);
    if (!s.get_ref<const std::string&>().empty()) out.push_back(s.get<std::string>());
  }
  return out;
}

std::optional<double> get_number_in(const json& obj, const char* key, double lo, double hi) {
  auto v = get_number(obj, key);
  if (v && !(*v >= lo && *v <= hi))
    throw bad_request(std::string("'") + key + "' must be between " + json(lo).dump() + " and " + json(hi).dump() +
                          ", got " + json(*v).dump(),
                      "invalid_value");
  return v;
}

}  // namespace hearth::serve

#include "serve/json_fields.h"

#include <cmath>
#include <limits>

#include "sampling/json_limits.h"
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
  // Measured before parsing, without recursion: what reaches a handler nests at most kMaxBodyDepth deep, so the
  // recursive walks after it (copies, dump(), schema compilation) have a bounded stack.
  if (sampling::json_text_depth(body, kMaxBodyDepth) > kMaxBodyDepth)
    throw bad_request("request body nests arrays and objects deeper than " + std::to_string(kMaxBodyDepth) +
                          " levels (hearth's limit)",
                      "invalid_json");
  json j;
  try {
    j = json::parse(body);
  } catch (const json::exception& e) {  // parse_error, or out_of_range for a number such as 1e400
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
  // Above LLONG_MAX a get<long long>() would wrap (18446744073709551615 read as -1).
  if (v->is_number_unsigned() && v->get<unsigned long long>() > static_cast<unsigned long long>(
                                                                   std::numeric_limits<long long>::max()))
    throw bad_request(std::string("'") + key + "' is out of range, got " + v->dump(), "invalid_value");
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

std::optional<long long> get_integer_in(const json& obj, const char* key, long long lo, long long hi) {
  const json* v = field(obj, key);
  if (!v) return std::nullopt;
  const auto range = [&] {
    return bad_request(std::string("'") + key + "' must be an integer between " + std::to_string(lo) + " and " +
                           std::to_string(hi) + ", got " + v->dump(),
                       "invalid_value");
  };
  if (v->is_number_unsigned() && v->get<unsigned long long>() > static_cast<unsigned long long>(hi)) throw range();
  const long long n = *get_integer(obj, key);
  if (n < lo || n > hi) throw range();
  return n;
}

std::optional<uint64_t> get_seed(const json& obj, const char* key) {
  const json* v = field(obj, key);
  if (!v) return std::nullopt;
  if (v->is_number_unsigned()) return v->get<uint64_t>();
  const long long n = *get_integer(obj, key);
  if (n == -1) return uint64_t{0xFFFFFFFF};  // as llama.cpp and Ollama: -1 asks for a random seed
  if (n < 0)
    throw bad_request(std::string("'") + key + "' must be -1 (random) or an integer from 0 to 18446744073709551615, got " +
                          std::to_string(n),
                      "invalid_value");
  return static_cast<uint64_t>(n);
}

std::optional<double> get_number_above(const json& obj, const char* key, double lo, double hi) {
  auto v = get_number(obj, key);
  if (v && !(*v > lo && *v <= hi))
    throw bad_request(std::string("'") + key + "' must be greater than " + json(lo).dump() + " and at most " +
                          json(hi).dump() + ", got " + json(*v).dump(),
                      "invalid_value");
  return v;
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

// Typed access to request fields: a field of the wrong type is a 400 naming the field and the type it
// needs, never an exception from deep inside the JSON library.
#pragma once
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace hearth::serve {

using json = nlohmann::json;

// Parses a request body that must be a JSON object (400 otherwise, with the parser's message).
json parse_body(const std::string& body);

// Each returns nullopt when the field is absent or null, and throws a 400 ApiError for a wrong type.
std::optional<std::string> get_string(const json& obj, const char* key);
std::optional<double> get_number(const json& obj, const char* key);
std::optional<long long> get_integer(const json& obj, const char* key);
std::optional<bool> get_bool(const json& obj, const char* key);
const json* get_object(const json& obj, const char* key);
const json* get_array(const json& obj, const char* key);

// A string field that must be present.
std::string require_string(const json& obj, const char* key);
// "stop": a string or an array of strings.
std::vector<std::string> get_stop(const json& obj, const char* key);
// A number field within [lo, hi] (400 naming the range otherwise).
std::optional<double> get_number_in(const json& obj, const char* key, double lo, double hi);

}  // namespace hearth::serve

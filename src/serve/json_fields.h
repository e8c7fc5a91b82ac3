// Typed access to request fields: a field of the wrong type is a 400 naming the field and the type it
// needs, never an exception from deep inside the JSON library.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace hearth::serve {

using json = nlohmann::json;

// Arrays and objects in a request body nest at most this deep (a 400 beyond it).
constexpr int kMaxBodyDepth = 128;

// Parses a request body that must be a JSON object (400 otherwise, with the parser's message, or naming
// kMaxBodyDepth for a body that nests deeper).
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
// A number field within (lo, hi]: lo itself is refused (repeat_penalty 0 would divide by zero).
std::optional<double> get_number_above(const json& obj, const char* key, double lo, double hi);
// A seed: 0 to 2^64-1, or -1 for a random one (SamplerParams' 0xFFFFFFFF, as llama.cpp reads -1).
std::optional<uint64_t> get_seed(const json& obj, const char* key);
// An integer field within [lo, hi] (400 naming the range otherwise; never wrapped into range).
std::optional<long long> get_integer_in(const json& obj, const char* key, long long lo, long long hi);

}  // namespace hearth::serve

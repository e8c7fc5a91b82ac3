#include "serve/keep_alive.h"

#include <cmath>
#include <cctype>
#include <cstdlib>

#include "hearth/error.h"
#include "serve/api_error.h"

namespace hearth::serve {
namespace {

// Milliseconds per unit; 0 for an unknown unit.
double unit_ms(const std::string& u) {
  if (u == "ns") return 1e-6;
  if (u == "us" || u == "\u00b5s") return 1e-3;
  if (u == "ms") return 1;
  if (u == "s") return 1e3;
  if (u == "m") return 60e3;
  if (u == "h") return 3600e3;
  return 0;
}

KeepAlive from_ms(double ms, const std::string& text) {
  // Anything beyond ~290 years is forever in practice; refuse NaN.
  if (std::isnan(ms)) throw Error("invalid duration '" + text + "'");
  if (ms < 0) return KeepAlive(-1);
  if (ms > 9e15) return KeepAlive(-1);
  return KeepAlive(static_cast<long long>(std::llround(ms)));
}

}  // namespace

KeepAlive parse_duration(const std::string& text) {
  const std::string bad = "invalid duration '" + text + "' (examples: 5m, 1h30m, 30s, 0, -1 for forever)";
  if (text == "forever" || text == "inf" || text == "infinite") return KeepAlive(-1);
  if (text.empty()) throw Error(bad);
  size_t i = 0;
  bool negative = false;
  if (text[i] == '-' || text[i] == '+') negative = text[i++] == '-';
  if (i == text.size() || !(std::isdigit(static_cast<unsigned char>(text[i])) || text[i] == '.')) throw Error(bad);
  // A bare number: seconds.
  char* end = nullptr;
  const double whole = std::strtod(text.c_str() + i, &end);
  if (end && *end == '\0') return from_ms((negative ? -whole : whole) * 1e3, text);
  double ms = 0;
  while (i < text.size()) {
    const size_t num_start = i;
    while (i < text.size() && (std::isdigit(static_cast<unsigned char>(text[i])) || text[i] == '.')) ++i;
    if (i == num_start) throw Error(bad);
    const std::string num = text.substr(num_start, i - num_start);
    const size_t unit_start = i;
    while (i < text.size() && !std::isdigit(static_cast<unsigned char>(text[i])) && text[i] != '.') ++i;
    const double per = unit_ms(text.substr(unit_start, i - unit_start));
    char* num_end = nullptr;
    const double v = std::strtod(num.c_str(), &num_end);
    if (per == 0 || !num_end || *num_end != '\0') throw Error(bad);
    ms += v * per;
  }
  return from_ms(negative ? -ms : ms, text);
}

std::optional<KeepAlive> parse_keep_alive(const nlohmann::json& body) {
  auto it = body.find("keep_alive");
  if (it == body.end() || it->is_null()) return std::nullopt;
  if (it->is_number()) return from_ms(it->get<double>() * 1e3, it->dump());
  if (!it->is_string())
    throw bad_request(std::string("'keep_alive' must be a duration string (\"5m\") or a number of seconds, got ") +
                          it->type_name(),
                      "invalid_type");
  try {
    return parse_duration(it->get<std::string>());
  } catch (const Error& e) {
    throw bad_request(std::string("'keep_alive': ") + e.what(), "invalid_value");
  }
}

}  // namespace hearth::serve

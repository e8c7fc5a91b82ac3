// Profiles: a Modelfile-like text (FROM, SYSTEM, PARAMETER, TEMPLATE), as Ollama users know it.
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <utility>
#include <sstream>

#include "hearth/error.h"
#include "hearth/store.h"
#include "sampling/param_limits.h"

namespace hearth {
namespace {

const char* const kFloatParams[] = {"temperature", "top_p", "min_p", "repeat_penalty", "presence_penalty",
                                    "frequency_penalty"};
const char* const kIntParams[] = {"top_k", "repeat_last_n", "seed", "num_predict", "num_ctx"};

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string trim(const std::string& s) {
  size_t a = s.find_first_not_of(" \t\r\n"), b = s.find_last_not_of(" \t\r\n");
  return a == std::string::npos ? "" : s.substr(a, b - a + 1);
}

// The range a number parameter must be within (the ones Ollama's request options take: sampling/param_limits.h).
struct Range {
  double lo, hi;
  bool lo_open;  // lo itself is refused
};

Range float_range(const std::string& key) {
  using namespace sampling;
  if (key == "temperature") return {0, kMaxTemperature, false};
  if (key == "top_p" || key == "min_p") return {0, 1, false};
  if (key == "repeat_penalty") return {0, kMaxRepeatPenalty, true};
  return {-kMaxPenalty, kMaxPenalty, false};  // presence_penalty, frequency_penalty
}

std::pair<long long, long long> int_range(const std::string& key) {
  using namespace sampling;
  if (key == "top_k") return {kMinTopK, kMaxInt};
  if (key == "repeat_last_n") return {kMinRepeatLastN, kMaxInt};
  if (key == "num_predict") return {kMinNumPredict, kMaxInt};
  if (key == "num_ctx") return {kMinNumCtx, kMaxNumCtx};
  return {-1, std::numeric_limits<long long>::max()};  // seed: -1 (random) or any 63-bit value
}

std::string number_text(double v) {
  std::ostringstream o;
  o << v;
  return o.str();
}

std::string unquote(const std::string& v) {
  if (v.size() >= 2 && v.front() == '"' && v.back() == '"') return v.substr(1, v.size() - 2);
  return v;
}

}  // namespace

void check_profile_parameter(const std::string& key, const std::string& value) {
  if (key == "stop") {
    if (value.empty()) throw Error("parameter 'stop' needs a non-empty string");
    return;
  }
  for (const char* k : kFloatParams) {
    if (key != k) continue;
    char* end = nullptr;
    const double v = std::strtod(value.c_str(), &end);
    if (value.empty() || *end != '\0') throw Error("parameter '" + key + "' must be a number, got '" + value + "'");
    // strtod also reads "nan", "inf" and "1e999" (as inf): none is a usable parameter.
    const Range r = float_range(key);
    if (!std::isfinite(v) || v > r.hi || v < r.lo || (r.lo_open && v == r.lo))
      throw Error("parameter '" + key + "' must be a number " + (r.lo_open ? "greater than " : "from ") +
                  number_text(r.lo) + (r.lo_open ? " and at most " : " to ") + number_text(r.hi) + ", got '" + value +
                  "'");
    return;
  }
  for (const char* k : kIntParams) {
    if (key != k) continue;
    char* end = nullptr;
    errno = 0;
    const long long v = std::strtoll(value.c_str(), &end, 10);
    if (value.empty() || *end != '\0') throw Error("parameter '" + key + "' must be an integer, got '" + value + "'");
    const auto [lo, hi] = int_range(key);
    if (errno == ERANGE || v < lo || v > hi)
      throw Error("parameter '" + key + "' must be between " + std::to_string(lo) + " and " + std::to_string(hi) +
                  ", got " + value);
    if (key == std::string("num_predict") && v == 0) throw Error("parameter 'num_predict' must not be 0 (-1: unlimited)");
    return;
  }
  throw Error("unknown parameter '" + key +
              "' (known: temperature top_p top_k min_p repeat_penalty repeat_last_n presence_penalty "
              "frequency_penalty seed num_predict num_ctx stop)");
}

Profile parse_profile(const std::string& text) {
  Profile p;
  std::istringstream in(text);
  std::string line;
  int line_no = 0;
  bool have_from = false;
  while (std::getline(in, line)) {
    ++line_no;
    const std::string where = "profile line " + std::to_string(line_no) + ": ";
    std::string t = trim(line);
    if (t.empty() || t[0] == '#') continue;
    size_t sp = t.find_first_of(" \t");
    const std::string keyword = lower(t.substr(0, sp));
    std::string rest = sp == std::string::npos ? "" : trim(t.substr(sp));
    // """ ... """ spans lines; the text between the quotes is kept as written.
    if (rest.rfind("\"\"\"", 0) == 0) {
      std::string value = rest.substr(3);
      size_t close = value.find("\"\"\"");
      while (close == std::string::npos) {
        std::string more;
        if (!std::getline(in, more)) throw Error(where + "unterminated \"\"\" (a closing \"\"\" is missing)");
        ++line_no;
        value += "\n" + more;
        close = value.find("\"\"\"");
      }
      if (!trim(value.substr(close + 3)).empty()) throw Error(where + "text after the closing \"\"\"");
      rest = value.substr(0, close);
    } else {
      rest = unquote(rest);
    }
    if (keyword == "from") {
      if (rest.empty()) throw Error(where + "FROM needs a model name or a path");
      if (have_from) throw Error(where + "more than one FROM");
      p.from = rest;
      have_from = true;
    } else if (keyword == "system") {
      p.system = rest;
    } else if (keyword == "template") {
      p.tmpl = rest;
    } else if (keyword == "parameter") {
      std::string kv = trim(rest);
      size_t s = kv.find_first_of(" \t");
      if (s == std::string::npos) throw Error(where + "PARAMETER needs a name and a value");
      std::string key = lower(kv.substr(0, s)), value = unquote(trim(kv.substr(s)));
      try {
        check_profile_parameter(key, value);
      } catch (const Error& e) {
        throw Error(where + e.what());
      }
      p.parameters.emplace_back(key, value);
    } else {
      throw Error(where + "unknown instruction '" + t.substr(0, sp) +
                  "' (a profile has FROM, SYSTEM, PARAMETER, TEMPLATE and # comments)");
    }
  }
  return p;
}

std::string format_parameters(const std::vector<std::pair<std::string, std::string>>& parameters) {
  std::string out;
  for (const auto& [k, v] : parameters) out += k + " " + (k == "stop" ? "\"" + v + "\"" : v) + "\n";
  return out;
}

}  // namespace hearth

// CSV and JSON of request records: one field list, written two ways.
#include "eval/records.h"

#include <cmath>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <variant>

namespace hearth::eval {
namespace {

using Value = std::variant<std::string, double, long long, bool>;

std::vector<std::pair<const char*, Value>> fields(const RequestRecord& r) {
  return {{"config", r.config},
          {"target", r.target},
          {"model", r.model},
          {"prompt_id", r.prompt_id},
          {"rep", static_cast<long long>(r.rep)},
          {"ok", r.m.ok},
          {"error", r.m.error},
          {"prompt_tokens", static_cast<long long>(r.m.prompt_tokens)},
          {"prompt_tps", r.m.prompt_tps},
          {"gen_tokens", static_cast<long long>(r.m.gen_tokens)},
          {"gen_tps", r.m.gen_tps},
          {"ttft_ms", r.m.ttft_ms},
          {"total_ms", r.m.total_ms},
          {"temperature", r.temperature},
          {"n_gpu_layers", static_cast<long long>(r.n_gpu_layers)},
          {"device", r.device},
          {"energy_source", r.energy_source},
          {"mean_power_w", r.mean_power_w},
          {"energy_j", r.energy_j},
          {"j_per_token", r.j_per_token},
          {"wh_per_token", r.wh_per_token},
          {"usd_per_mtok", r.usd_per_mtok}};
}

std::string csv_quote(const std::string& s) {
  if (s.find_first_of(",\"\n\r") == std::string::npos) return s;
  std::string out = "\"";
  for (char c : s) out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}

std::string csv_value(const Value& v) {
  if (const auto* s = std::get_if<std::string>(&v)) return csv_quote(*s);
  if (const auto* b = std::get_if<bool>(&v)) return *b ? "true" : "false";
  if (const auto* i = std::get_if<long long>(&v)) return std::to_string(*i);
  const double d = std::get<double>(v);
  if (!std::isfinite(d)) return "";
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.10g", d);
  return buf;
}

}  // namespace

std::string records_csv(const std::vector<RequestRecord>& records) {
  std::string out;
  const RequestRecord header_source;
  bool first = true;
  for (const auto& [name, value] : fields(header_source)) {
    if (!first) out += ',';
    out += name;
    first = false;
  }
  out += "\n";
  for (const RequestRecord& r : records) {
    first = true;
    for (const auto& [name, value] : fields(r)) {
      if (!first) out += ',';
      out += csv_value(value);
      first = false;
    }
    out += "\n";
  }
  return out;
}

std::string records_json(const std::vector<RequestRecord>& records) {
  nlohmann::ordered_json arr = nlohmann::ordered_json::array();
  for (const RequestRecord& r : records) {
    nlohmann::ordered_json o = nlohmann::ordered_json::object();
    for (const auto& [field_name, value] : fields(r)) {
      const char* name = field_name;  // clang 14 cannot capture a structured binding in a lambda
      std::visit(
          [&](const auto& x) {
            using T = std::decay_t<decltype(x)>;
            if constexpr (std::is_same_v<T, double>)
              o[name] = std::isfinite(x) ? nlohmann::ordered_json(x) : nlohmann::ordered_json(nullptr);
            else
              o[name] = x;
          },
          value);
    }
    arr.push_back(std::move(o));
  }
  // Replace invalid UTF-8 (an error message quoting a server's bytes) instead of throwing.
  return arr.dump(2, ' ', false, nlohmann::ordered_json::error_handler_t::replace) + "\n";
}

}  // namespace hearth::eval

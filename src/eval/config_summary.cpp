// Grouping records by configuration and formatting the statistics.
#include "eval/config_summary.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>

namespace hearth::eval {
namespace {

std::string fmt(double v, int decimals) {
  if (!std::isfinite(v)) return "-";
  char buf[48];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  return buf;
}

// Significant digits for small values such as J/token.
std::string fmt_g(double v) {
  if (!std::isfinite(v)) return "-";
  char buf[48];
  std::snprintf(buf, sizeof buf, "%.3g", v);
  return buf;
}

}  // namespace

std::vector<ConfigSummary> summarize_configs(const std::vector<RequestRecord>& records, double price_kwh) {
  std::vector<ConfigSummary> out;
  std::map<std::string, size_t> index;
  std::vector<std::vector<double>> gen, prompt, ttft, jpt;
  for (const RequestRecord& r : records) {
    auto [it, fresh] = index.emplace(r.config, out.size());
    if (fresh) {
      ConfigSummary s;
      s.config = r.config, s.target = r.target, s.model = r.model, s.temperature = r.temperature;
      out.push_back(std::move(s));
      gen.emplace_back(), prompt.emplace_back(), ttft.emplace_back(), jpt.emplace_back();
    }
    const size_t i = it->second;
    ConfigSummary& s = out[i];
    if (!r.device.empty()) s.device = r.device, s.n_gpu_layers = r.n_gpu_layers;
    if (!r.energy_source.empty()) s.energy_source = r.energy_source;
    if (!r.m.ok) {
      ++s.n_failed;
      continue;
    }
    ++s.n_ok;
    gen[i].push_back(r.m.gen_tps);
    prompt[i].push_back(r.m.prompt_tps);
    ttft[i].push_back(r.m.ttft_ms);
    jpt[i].push_back(r.j_per_token);
  }
  for (size_t i = 0; i < out.size(); ++i) {
    out[i].gen_tps = summarize(gen[i]);
    out[i].prompt_tps = summarize(prompt[i]);
    out[i].ttft_ms = summarize(ttft[i]);
    out[i].j_per_token = summarize(jpt[i]);
    const double median_j = out[i].j_per_token.n ? out[i].j_per_token.median : kUnknown;
    out[i].cost = energy_cost(median_j, 1.0, price_kwh);
  }
  return out;
}

std::string format_median_iqr(const Summary& s, int decimals) {
  if (s.n == 0) return "-";
  return decimals < 0 ? fmt_g(s.median) + " ± " + fmt_g(s.iqr) : fmt(s.median, decimals) + " ± " + fmt(s.iqr, decimals);
}

std::string format_mean_std(const Summary& s, int decimals) {
  if (s.n == 0 || !s.outliers.empty()) return "";
  return decimals < 0 ? fmt_g(s.mean) + " ± " + fmt_g(s.stddev)
                      : fmt(s.mean, decimals) + " ± " + fmt(s.stddev, decimals);
}

std::string format_ratio(double hosted_usd, double local_usd) {
  if (!std::isfinite(hosted_usd) || !std::isfinite(local_usd) || local_usd <= 0) return "-";
  const double r = hosted_usd / local_usd;
  char buf[48];
  std::snprintf(buf, sizeof buf, r >= 10 ? "%.0fx" : "%.2gx", r);
  return buf;
}

std::string summary_table_text(const std::vector<ConfigSummary>& summaries, const std::vector<HostedPrice>& hosted) {
  using Row = std::vector<std::string>;
  std::vector<Row> rows = {{"configuration", "ok/fail", "gen t/s med ± IQR", "(mean ± sd)", "prompt t/s", "TTFT ms",
                            "J/token", "USD/1M tok"}};
  for (const ConfigSummary& s : summaries)
    rows.push_back({s.config, std::to_string(s.n_ok) + "/" + std::to_string(s.n_failed),
                    format_median_iqr(s.gen_tps, 2), format_mean_std(s.gen_tps, 2), format_median_iqr(s.prompt_tps, 1),
                    format_median_iqr(s.ttft_ms, 1), format_median_iqr(s.j_per_token, -1),
                    fmt_g(s.cost.usd_per_million_tokens)});
  std::vector<Row> cost = {{"configuration", "USD/1M tok"}};
  for (const HostedPrice& h : hosted) cost[0].push_back(h.name + " " + fmt(h.usd_per_million_output, 2));
  for (const ConfigSummary& s : summaries) {
    Row row = {s.config, fmt_g(s.cost.usd_per_million_tokens)};
    for (const HostedPrice& h : hosted)
      row.push_back(format_ratio(h.usd_per_million_output, s.cost.usd_per_million_tokens));
    cost.push_back(std::move(row));
  }
  auto render = [](const std::vector<Row>& t) {
    std::vector<size_t> w;
    auto width = [](const std::string& s) {  // UTF-8 code points ("±")
      return static_cast<size_t>(std::count_if(s.begin(), s.end(), [](char c) { return (c & 0xC0) != 0x80; }));
    };
    for (const Row& r : t)
      for (size_t i = 0; i < r.size(); ++i) {
        if (w.size() <= i) w.push_back(0);
        w[i] = std::max(w[i], width(r[i]));
      }
    std::string out;
    for (size_t ri = 0; ri < t.size(); ++ri) {
      for (size_t i = 0; i < t[ri].size(); ++i)
        out += (i ? "  " : "") + t[ri][i] + std::string(w[i] - width(t[ri][i]), ' ');
      while (!out.empty() && out.back() == ' ') out.pop_back();
      out += "\n";
      if (ri == 0) {
        size_t line = 0;
        for (size_t x : w) line += x + 2;
        out += std::string(line - 2, '-') + "\n";
      }
    }
    return out;
  };
  std::string out = render(rows);
  if (!hosted.empty())
    out += "\nhosted price (USD/1M output tokens) as a multiple of the local electricity cost:\n" + render(cost);
  return out;
}

}  // namespace hearth::eval

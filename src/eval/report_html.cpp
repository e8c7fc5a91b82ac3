// HTML report assembly; the plots come from box_plot_svg, the figures from config_summary.
#include "eval/report_html.h"

#include <cmath>
#include <cstdio>

#include "eval/box_plot_svg.h"

namespace hearth::eval {
namespace {

std::string fmt(double v, const char* f = "%.3g") {
  if (!std::isfinite(v)) return "-";
  char buf[48];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}

std::string cell(const std::string& s, bool num = false) {
  return std::string(num ? "<td class=\"n\">" : "<td>") + html_escape(s) + "</td>";
}

std::string stat_cells(const Summary& s, int decimals) {
  const std::string mean = format_mean_std(s, decimals);
  return cell(format_median_iqr(s, decimals), true) + cell(mean.empty() && s.n ? "(outliers)" : mean, true);
}

constexpr const char* kStyle = R"(<style>
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:24px;color:#222;max-width:1200px}
h1{font-size:1.5em}h2{font-size:1.15em;margin-top:1.6em}
table{border-collapse:collapse;margin:8px 0;font-size:13px}
th,td{border:1px solid #ccc;padding:3px 7px;text-align:left}th{background:#f0f0f0}
td.n{text-align:right;font-variant-numeric:tabular-nums}.err{color:#b00}.note{color:#555;font-size:13px}
svg{display:block;margin:10px 0;font-family:inherit}
</style>
)";

}  // namespace

std::string render_html_report(const std::vector<RequestRecord>& records, const std::vector<ConfigSummary>& summaries,
                               const std::vector<HostedPrice>& hosted, const ReportInfo& info) {
  std::string o = "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>" + html_escape(info.title) +
                  "</title>\n" + kStyle + "</head><body>\n";
  o += "<h1>" + html_escape(info.title) + "</h1>\n<p class=\"note\">";
  if (!info.generated_at.empty()) o += "Generated " + html_escape(info.generated_at) + ". ";
  o += std::to_string(info.n_prompts) + " prompts x " + std::to_string(info.reps) +
       " repetitions per configuration (warm-up excluded). Electricity at " + fmt(info.price_kwh, "%.3f") + " USD/kWh.";
  if (!info.energy_note.empty()) o += "<br>Energy: " + html_escape(info.energy_note);
  if (!info.command.empty()) o += "<br>Command: <code>" + html_escape(info.command) + "</code>";
  o += "</p>\n";
  if (info.interrupted)
    o += "<p class=\"err\">The run was interrupted: this report holds what was measured before.</p>\n";

  o += "<h2>Summary</h2>\n<p class=\"note\">median ± IQR; mean ± std where the configuration has no 1.5 IQR "
       "outliers.</p>\n<table><tr><th>configuration</th><th>device</th><th>GPU layers</th><th>ok / failed</th>"
       "<th>gen tokens/s</th><th>mean ± std</th><th>prompt tokens/s</th><th>mean ± std</th><th>TTFT ms</th>"
       "<th>J / token</th><th>mean ± std</th></tr>\n";
  for (const ConfigSummary& s : summaries)
    o += "<tr>" + cell(s.config) + cell(s.device) +
         cell(s.n_gpu_layers < 0 ? "-" : std::to_string(s.n_gpu_layers), true) +
         cell(std::to_string(s.n_ok) + " / " + std::to_string(s.n_failed), true) + stat_cells(s.gen_tps, 2) +
         stat_cells(s.prompt_tps, 1) + cell(format_median_iqr(s.ttft_ms, 1), true) + stat_cells(s.j_per_token, -1) +
         "</tr>\n";
  o += "</table>\n";

  std::vector<BoxRow> gen, jpt;
  for (const ConfigSummary& s : summaries)
    gen.push_back({s.config, s.gen_tps}), jpt.push_back({s.config, s.j_per_token});
  o += "<h2>Generation speed</h2>\n" + box_plot_svg("generated tokens per second", "tokens/s", gen);
  o += "<h2>Energy per generated token</h2>\n" + box_plot_svg("energy per generated token", "J/token", jpt);

  o += "<h2>Cost</h2>\n<p class=\"note\">Electricity per 1M generated tokens at the median energy per token; hosted "
       "prices are USD per 1M output tokens, shown as a multiple of the local cost.</p>\n<table><tr>"
       "<th>configuration</th><th>J / token</th><th>Wh / token</th><th>USD / 1M tokens</th>";
  for (const HostedPrice& h : hosted)
    o += "<th>" + html_escape(h.name) + "<br>" + fmt(h.usd_per_million_output, "%.2f") + " USD</th>";
  o += "</tr>\n";
  for (const ConfigSummary& s : summaries) {
    o += "<tr>" + cell(s.config) + cell(fmt(s.cost.joules_per_token), true) + cell(fmt(s.cost.wh_per_token), true) +
         cell(fmt(s.cost.usd_per_million_tokens, "%.4g"), true);
    for (const HostedPrice& h : hosted)
      o += cell(format_ratio(h.usd_per_million_output, s.cost.usd_per_million_tokens), true);
    o += "</tr>\n";
  }
  o += "</table>\n<p class=\"note\">Hosted prices: ";
  for (size_t i = 0; i < hosted.size(); ++i)
    o += (i ? "; " : "") + html_escape(hosted[i].name + " " + hosted[i].source +
                                       (hosted[i].date.empty() ? "" : " (" + hosted[i].date + ")"));
  o += ".</p>\n";

  o += "<h2>Every request</h2>\n<details><summary>" + std::to_string(records.size()) +
       " requests</summary>\n<table><tr><th>configuration</th><th>prompt</th><th>rep</th><th>prompt tokens</th>"
       "<th>prompt t/s</th><th>gen tokens</th><th>gen t/s</th><th>TTFT ms</th><th>total ms</th><th>mean W</th>"
       "<th>J</th><th>J/token</th><th>error</th></tr>\n";
  for (const RequestRecord& r : records)
    o += "<tr>" + cell(r.config) + cell(r.prompt_id) + cell(std::to_string(r.rep), true) +
         cell(std::to_string(r.m.prompt_tokens), true) + cell(fmt(r.m.prompt_tps, "%.1f"), true) +
         cell(std::to_string(r.m.gen_tokens), true) + cell(fmt(r.m.gen_tps, "%.2f"), true) +
         cell(fmt(r.m.ttft_ms, "%.1f"), true) + cell(fmt(r.m.total_ms, "%.1f"), true) +
         cell(fmt(r.mean_power_w, "%.1f"), true) + cell(fmt(r.energy_j), true) + cell(fmt(r.j_per_token), true) +
         "<td class=\"err\">" + html_escape(r.m.error) + "</td></tr>\n";
  o += "</table></details>\n</body></html>\n";
  return o;
}

}  // namespace hearth::eval

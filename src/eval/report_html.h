// The evaluation's self-contained HTML report: summary table, box plots (tokens/s, J/token), cost table and
// every request, in one file with inline CSS and SVG (viewable offline).
#pragma once
#include <string>
#include <vector>

#include "eval/config_summary.h"
#include "eval/cost.h"
#include "eval/records.h"

namespace hearth::eval {

struct ReportInfo {
  std::string title = "hearth evaluation";
  std::string generated_at;  // "2026-11-23 01:02 UTC"
  std::string command;       // the command line that made it
  std::string energy_note;   // how energy was measured (or that it was estimated)
  double price_kwh = kDefaultPriceKwh;
  size_t n_prompts = 0;
  int reps = 0;
  bool interrupted = false;
};

std::string render_html_report(const std::vector<RequestRecord>& records, const std::vector<ConfigSummary>& summaries,
                               const std::vector<HostedPrice>& hosted, const ReportInfo& info);

}  // namespace hearth::eval

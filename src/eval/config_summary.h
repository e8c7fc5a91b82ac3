// Per-configuration statistics of an evaluation's records, and how they are written in tables.
#pragma once
#include <string>
#include <vector>

#include "eval/cost.h"
#include "eval/records.h"
#include "eval/stats.h"

namespace hearth::eval {

struct ConfigSummary {
  std::string config, target, model, device, energy_source;
  double temperature = 0;
  int n_gpu_layers = -1;
  size_t n_ok = 0, n_failed = 0;
  Summary gen_tps, prompt_tps, ttft_ms, j_per_token;  // over the successful requests
  EnergyCost cost;                                    // at the median J/token (NaN fields when energy is unknown)
};

// One summary per configuration, in the order configurations first appear in records.
std::vector<ConfigSummary> summarize_configs(const std::vector<RequestRecord>& records, double price_kwh);

// "12.3 ± 0.41" (median ± IQR); "-" without data. With mean: " (mean 12.2 ± 0.30)" is appended where the values
// have no 1.5 IQR outliers (mean ± std describes them only then).
std::string format_median_iqr(const Summary& s, int decimals);
std::string format_mean_std(const Summary& s, int decimals);  // "" when there are outliers or no data

// How many times the hosted price is the local electricity cost ("38x"); "-" when unknown.
std::string format_ratio(double hosted_usd, double local_usd);

// A fixed-width text table of the summaries and the hosted-price comparison, for the terminal.
std::string summary_table_text(const std::vector<ConfigSummary>& summaries, const std::vector<HostedPrice>& hosted);

}  // namespace hearth::eval

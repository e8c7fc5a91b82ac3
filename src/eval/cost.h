// Energy and money per generated token.
#pragma once
#include <string>
#include <vector>

namespace hearth::eval {

constexpr double kDefaultPriceKwh = 0.14;  // USD per kWh

constexpr double kJoulesPerWh = 3600.0;

struct EnergyCost {
  double joules_per_token = 0;
  double wh_per_token = 0;
  double usd_per_million_tokens = 0;  // electricity only, at price_kwh
};

// energy_j spent on n_tokens generated tokens; n_tokens <= 0 gives zeros. An unknown energy (energy_j < 0, a
// failed reading, or NaN) gives NaN fields, so that a report never shows it as free.
EnergyCost energy_cost(double energy_j, double n_tokens, double price_kwh = kDefaultPriceKwh);

// A hosted model's price for comparison: USD per 1M output tokens, with where and when the figure came from.
struct HostedPrice {
  std::string name;
  double usd_per_million_output = 0;
  std::string source;  // URL or publisher
  std::string date;    // YYYY-MM-DD the price was read
};

// The documented defaults (see docs/benchmarks.md); --hosted NAME=PRICE overrides or adds.
std::vector<HostedPrice> default_hosted_prices();

// "name=0.60" -> {name, 0.60, "user", ""}; throws hearth::Error on a malformed item.
HostedPrice parse_hosted_price(const std::string& item);

}  // namespace hearth::eval

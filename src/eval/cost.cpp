#include "eval/cost.h"

#include <charconv>
#include <cmath>
#include <limits>

#include "hearth/error.h"

namespace hearth::eval {

EnergyCost energy_cost(double energy_j, double n_tokens, double price_kwh) {
  EnergyCost c;
  if (!(n_tokens > 0)) return c;
  if (!(energy_j >= 0)) {  // a failed reading (< 0) or NaN: unknown, never a free-looking 0
    const double nan = std::numeric_limits<double>::quiet_NaN();
    return {nan, nan, nan};
  }
  c.joules_per_token = energy_j / n_tokens;
  c.wh_per_token = c.joules_per_token / kJoulesPerWh;
  // 1M tokens use 1e6 * wh_per_token Wh = 1e3 * wh_per_token kWh.
  c.usd_per_million_tokens = c.wh_per_token * 1e3 * price_kwh;
  return c;
}

std::vector<HostedPrice> default_hosted_prices() {
  // Output-token list prices, read on 2026-11-23 through the project's search tool (stored copies of the
  // pages, not the live sites). Where the provider's own page could not be read, `source` says whose
  // figure it is. docs/benchmarks.md repeats this table.
  const std::string date = "2026-11-23";
  return {
      {"gpt-4o-mini", 0.60,
       "https://platform.openai.com/docs/pricing (figure as quoted by third-party 2025-2026 pricing "
       "summaries, e.g. deploybase.ai/articles/openai-pricing; the OpenAI page itself was not read)",
       date},
      {"gpt-4o", 10.00,
       "https://platform.openai.com/docs/pricing (figure as quoted by third-party 2025-2026 pricing "
       "summaries, e.g. deploybase.ai/articles/openai-pricing; the OpenAI page itself was not read)",
       date},
      {"claude-haiku-3.5", 4.00, "https://docs.anthropic.com/en/docs/about-claude/pricing", date},
      {"claude-sonnet-4", 15.00, "https://docs.anthropic.com/en/docs/about-claude/pricing", date},
      {"llama-3.1-8b@groq", 0.08,
       "https://groq.com/pricing (llama-3.1-8b-instant, '~$0.08' as quoted by third-party guides; not "
       "confirmed on groq.com)",
       date},
      {"llama-3.3-70b@groq", 0.79,
       "https://groq.com/pricing (llama-3.3-70b-versatile, as quoted by third-party guides; not confirmed "
       "on groq.com)",
       date},
  };
}

static std::string trim(const std::string& s) {
  const auto b = s.find_first_not_of(" \t");
  if (b == std::string::npos) return "";
  return s.substr(b, s.find_last_not_of(" \t") - b + 1);
}

HostedPrice parse_hosted_price(const std::string& item) {
  const auto fail = [&](const std::string& why) {
    return Error("hosted price '" + item + "': " + why +
                 " (expected NAME=USD_PER_1M_OUTPUT_TOKENS, e.g. gpt-4o-mini=0.60)");
  };
  const auto eq = item.rfind('=');
  if (eq == std::string::npos) throw fail("no '='");
  const std::string name = trim(item.substr(0, eq)), price = trim(item.substr(eq + 1));
  if (name.empty()) throw fail("empty name");
  if (price.empty()) throw fail("empty price");
  double usd = 0;
  const auto [end, ec] = std::from_chars(price.data(), price.data() + price.size(), usd);
  if (ec != std::errc() || end != price.data() + price.size()) throw fail("'" + price + "' is not a number");
  if (!std::isfinite(usd) || usd < 0) throw fail("the price must be a finite number >= 0");
  return {name, usd, "user", ""};
}

}  // namespace hearth::eval

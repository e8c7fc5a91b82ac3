// Energy and money per token, computed by hand.
#include <gtest/gtest.h>

#include <cmath>
#include <regex>

#include "eval/cost.h"
#include "hearth/error.h"

using namespace hearth::eval;

TEST(EvalCost, PerTokenArithmetic) {
  // 360 J over 100 tokens = 3.6 J/token = 3.6 / 3600 = 0.001 Wh/token;
  // 1M tokens: 1000 Wh = 1 kWh, at 0.14 USD/kWh = 0.14 USD.
  const auto c = energy_cost(360, 100);
  EXPECT_NEAR(c.joules_per_token, 3.6, 1e-12);
  EXPECT_NEAR(c.wh_per_token, 0.001, 1e-15);
  EXPECT_NEAR(c.usd_per_million_tokens, 0.14, 1e-12);
}

TEST(EvalCost, OtherPrice) {
  // 250 W for 10 s = 2500 J over 50 tokens = 50 J/token = 50 / 3600 Wh = 0.0138889 Wh/token;
  // 1M tokens: 13888.9 Wh = 13.8889 kWh, at 0.30 USD/kWh = 4.16667 USD (= 50 * 1e6 / 3.6e6 * 0.30).
  const auto c = energy_cost(2500, 50, 0.30);
  EXPECT_NEAR(c.joules_per_token, 50, 1e-12);
  EXPECT_NEAR(c.wh_per_token, 50.0 / 3600, 1e-15);
  EXPECT_NEAR(c.usd_per_million_tokens, 25.0 / 6, 1e-9);  // 4.1666...
}

TEST(EvalCost, NoTokensGiveZeros) {
  for (double n : {0.0, -3.0}) {
    const auto c = energy_cost(100, n);
    EXPECT_EQ(c.joules_per_token, 0);
    EXPECT_EQ(c.wh_per_token, 0);
    EXPECT_EQ(c.usd_per_million_tokens, 0);
  }
}

TEST(EvalCost, UnknownEnergyIsNan) {
  const auto c = energy_cost(-1, 10);
  EXPECT_TRUE(std::isnan(c.joules_per_token));
  EXPECT_TRUE(std::isnan(c.wh_per_token));
  EXPECT_TRUE(std::isnan(c.usd_per_million_tokens));
  EXPECT_EQ(energy_cost(0, 10).usd_per_million_tokens, 0);  // zero energy is a real zero
}

TEST(EvalCost, ParseHostedPrice) {
  auto p = parse_hosted_price("gpt-4o-mini=0.60");
  EXPECT_EQ(p.name, "gpt-4o-mini");
  EXPECT_DOUBLE_EQ(p.usd_per_million_output, 0.60);
  EXPECT_EQ(p.source, "user");
  EXPECT_EQ(p.date, "");
  p = parse_hosted_price(" my model = 12.5 ");
  EXPECT_EQ(p.name, "my model");
  EXPECT_DOUBLE_EQ(p.usd_per_million_output, 12.5);
  EXPECT_DOUBLE_EQ(parse_hosted_price("free=0").usd_per_million_output, 0);
}

TEST(EvalCost, ParseHostedPriceRejectsMalformed) {
  for (const char* bad : {"gpt-4o", "=0.5", "x=", "x=abc", "x=1.5abc", "x=-1", "x=inf", "x=nan", ""}) {
    EXPECT_THROW(parse_hosted_price(bad), hearth::Error) << bad;
  }
  try {
    parse_hosted_price("x=abc");
  } catch (const hearth::Error& e) {
    EXPECT_NE(std::string(e.what()).find("x=abc"), std::string::npos) << e.what();  // names the item
  }
}

TEST(EvalCost, DefaultHostedPricesAreDocumented) {
  const auto prices = default_hosted_prices();
  ASSERT_GE(prices.size(), 4u);
  const std::regex date("[0-9]{4}-[0-9]{2}-[0-9]{2}");
  bool mini = false;
  for (const auto& p : prices) {
    EXPECT_FALSE(p.name.empty());
    EXPECT_GT(p.usd_per_million_output, 0) << p.name;
    EXPECT_NE(p.source.find("https://"), std::string::npos) << p.name;
    EXPECT_TRUE(std::regex_match(p.date, date)) << p.name << ": " << p.date;
    if (p.name == "gpt-4o-mini") mini = (p.usd_per_million_output == 0.60);
  }
  EXPECT_TRUE(mini);
}

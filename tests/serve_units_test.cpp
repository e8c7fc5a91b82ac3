// Small pieces of the serve runtime without a server: keep-alive durations and fitting a prompt to the context.
#include <gtest/gtest.h>

#include <numeric>

#include "hearth/error.h"
#include "serve/api_error.h"
#include "serve/context_fit.h"
#include "serve/keep_alive.h"

namespace hearth::serve {
namespace {

using std::chrono::milliseconds;

TEST(KeepAlive, ParsesGoDurationsAndSeconds) {
  EXPECT_EQ(parse_duration("5m"), milliseconds(300000));
  EXPECT_EQ(parse_duration("1h30m"), milliseconds(5400000));
  EXPECT_EQ(parse_duration("30s"), milliseconds(30000));
  EXPECT_EQ(parse_duration("250ms"), milliseconds(250));
  EXPECT_EQ(parse_duration("1.5h"), milliseconds(5400000));
  EXPECT_EQ(parse_duration("0"), milliseconds(0));
  EXPECT_EQ(parse_duration("0s"), milliseconds(0));
  EXPECT_EQ(parse_duration("300"), milliseconds(300000));  // a bare number: seconds
  EXPECT_EQ(parse_duration("2.5"), milliseconds(2500));
  EXPECT_LT(parse_duration("-1").count(), 0);  // negative: forever
  EXPECT_LT(parse_duration("-1m").count(), 0);
  EXPECT_LT(parse_duration("forever").count(), 0);
  for (const char* bad : {"", "5x", "m", "five minutes", "1h-", "--1", "1..5s"})
    EXPECT_THROW(parse_duration(bad), Error) << bad;
}

TEST(KeepAlive, RequestFieldIsAStringOrSeconds) {
  using nlohmann::json;
  EXPECT_FALSE(parse_keep_alive(json{{"model", "x"}}).has_value());
  EXPECT_FALSE(parse_keep_alive(json{{"keep_alive", nullptr}}).has_value());
  EXPECT_EQ(*parse_keep_alive(json{{"keep_alive", "10m"}}), milliseconds(600000));
  EXPECT_EQ(*parse_keep_alive(json{{"keep_alive", 0}}), milliseconds(0));
  EXPECT_EQ(*parse_keep_alive(json{{"keep_alive", 1.5}}), milliseconds(1500));
  EXPECT_LT(parse_keep_alive(json{{"keep_alive", -1}})->count(), 0);
  try {
    parse_keep_alive(json{{"keep_alive", true}});
    ADD_FAILURE() << "no error for a boolean";
  } catch (const ApiError& e) {
    EXPECT_EQ(e.status, 400);
    EXPECT_NE(std::string(e.what()).find("'keep_alive'"), std::string::npos);
  }
  EXPECT_THROW(parse_keep_alive(json{{"keep_alive", "soon"}}), ApiError);
}

std::vector<int32_t> iota_tokens(int n) {
  std::vector<int32_t> t(n);
  std::iota(t.begin(), t.end(), 0);
  return t;
}

TEST(ContextFit, TooLongIsA400WithTheNumbers) {
  auto t = iota_tokens(300);
  try {
    fit_context(t, 256, -1, false, 1);
    ADD_FAILURE() << "no error";
  } catch (const ApiError& e) {
    EXPECT_EQ(e.status, 400);
    EXPECT_EQ(e.code, "context_length_exceeded");
    const std::string m = e.what();
    EXPECT_NE(m.find("300 tokens"), std::string::npos) << m;
    EXPECT_NE(m.find("256"), std::string::npos) << m;
  }
  EXPECT_EQ(t.size(), 300u);  // never cut without being asked
  // The prompt plus max_tokens must fit (OpenAI's rule); exactly n_ctx is fine.
  auto s = iota_tokens(200);
  EXPECT_THROW(fit_context(s, 256, 57, false, 1), ApiError);
  EXPECT_EQ(fit_context(s, 256, 56, false, 1), 0);
  auto full = iota_tokens(255);
  EXPECT_EQ(fit_context(full, 256, -1, false, 1), 0);
  auto over = iota_tokens(256);
  EXPECT_THROW(fit_context(over, 256, -1, false, 1), ApiError);
}

TEST(ContextFit, TruncationKeepsThePrefixAndTheLatestTokens) {
  auto t = iota_tokens(300);
  // No max_tokens: a quarter of the context is left for the answer.
  const int dropped = fit_context(t, 256, -1, true, 10);
  EXPECT_EQ(t.size(), 192u);
  EXPECT_EQ(dropped, 300 - 192);
  for (int i = 0; i < 10; ++i) EXPECT_EQ(t[i], i);  // the kept prefix (BOS, system prompt)
  EXPECT_EQ(t[10], 300 - 182);                      // then the most recent 182
  EXPECT_EQ(t.back(), 299);
  // max_tokens leaves its room (at most half the context).
  auto u = iota_tokens(300);
  EXPECT_EQ(fit_context(u, 256, 16, true, 1), 300 - 240);
  auto v = iota_tokens(300);
  EXPECT_EQ(fit_context(v, 256, 1000, true, 1), 300 - 128);
  // Nothing to drop when it fits.
  auto w = iota_tokens(100);
  EXPECT_EQ(fit_context(w, 256, -1, true, 1), 0);
  EXPECT_EQ(w.size(), 100u);
  // A prefix longer than the room left: only BOS is kept.
  auto x = iota_tokens(300);
  EXPECT_EQ(fit_context(x, 256, -1, true, 250), 300 - 192);
  EXPECT_EQ(x[0], 0);
  EXPECT_EQ(x[1], 300 - 191);
}

}  // namespace
}  // namespace hearth::serve

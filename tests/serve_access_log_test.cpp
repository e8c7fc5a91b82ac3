// hearth serve's access log: one line per request once its response is sent (a stream included), with time,
// status, duration, client, method and path, and nothing a client sent beyond the path.
#include <gtest/gtest.h>

#ifdef HEARTH_HAVE_HTTP
#include <mutex>
#include <regex>

#include "serve/access_log.h"
#include "serve_test_util.h"

namespace hearth::test {
namespace {

TEST(ServeAccessLog, LineFormat) {
  const auto when = std::chrono::system_clock::from_time_t(1795438201);  // 2026-11-23T12:50:01Z
  EXPECT_EQ(serve::access_log_line(when, 200, 1.23456, "127.0.0.1", "POST", "/v1/chat/completions"),
            "2026-11-23T12:50:01Z 200 1.235s 127.0.0.1 POST /v1/chat/completions");
  EXPECT_EQ(serve::access_log_line(when, 404, -1, "", "GET", "/a\nb?key=secret"), "2026-11-23T12:50:01Z 404 - - GET /a?b");
}

TEST(ServeAccessLog, OneLinePerRequestWithoutContent) {
  HEARTH_REQUIRE_FIXTURE(stories_path());
  std::mutex mu;
  std::vector<std::string> lines;
  ServerOptions o = stories_options(2, 128);
  o.access_log = [&](const std::string& line) {
    std::lock_guard<std::mutex> lock(mu);
    lines.push_back(line);
  };
  {
    RunningServer s(o);
    auto c = s.client();
    const std::string secret = "The secret patient name is Zyxwv";
    auto r = post_json(c, "/v1/completions", {{"model", "stories"}, {"prompt", secret}, {"max_tokens", 40}, {"stream", true}});
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(c.Get("/v1/nothing?token=abc")->status, 404);
    EXPECT_EQ(post_json(c, "/api/generate", {{"model", "nomodel"}, {"prompt", secret}})->status, 404);
  }  // the server is gone: every line is in
  ASSERT_EQ(lines.size(), 3u);
  const std::regex format(R"(^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ \d{3} \d+\.\d{3}s 127\.0\.0\.1 (GET|POST) /\S*$)");
  for (const std::string& l : lines) {
    EXPECT_TRUE(std::regex_match(l, format)) << l;
    EXPECT_EQ(l.find("Zyxwv"), std::string::npos) << l;
    EXPECT_EQ(l.find("abc"), std::string::npos) << l;
  }
  // Each request's line (in the order the server's threads finished them, which may not be the clients').
  auto line_of = [&](const std::string& what) {
    for (const std::string& l : lines)
      if (l.find(what) != std::string::npos) return l;
    ADD_FAILURE() << "no line with " << what;
    return std::string();
  };
  EXPECT_NE(line_of("POST /v1/completions").find(" 200 "), std::string::npos);
  EXPECT_NE(line_of("GET /v1/nothing").find(" 404 "), std::string::npos);
  EXPECT_NE(line_of("POST /api/generate").find(" 404 "), std::string::npos);
}

}  // namespace
}  // namespace hearth::test

#else
TEST(ServeAccessLog, NeedsHttp) { GTEST_SKIP() << "built without cpp-httplib"; }
#endif

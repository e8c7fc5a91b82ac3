// The built-in chat page: GET / serves it (HTML, self-contained, without an API key even when the server needs
// one), and headless Chromium runs it against the real server: with ?prompt=... the page lists the models,
// sends the prompt to /v1/chat/completions, streams the reply into the DOM, and that reply is the greedy text
// the same request gets over the API. Skipped without chromium (Debian: apt-get install chromium).
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <regex>
#include <thread>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "serve_test_util.h"

namespace hearth::test {
namespace {

std::string find_chromium() {
  for (const char* name : {"chromium", "chromium-browser", "google-chrome"})
    if (run_command(std::string("command -v ") + name + " >/dev/null 2>&1").status == 0) return name;
  return "";
}

// Text of an HTML text node as outerHTML serializes it.
std::string html_unescape(std::string s) {
  const std::pair<const char*, const char*> entities[] = {
      {"&lt;", "<"}, {"&gt;", ">"}, {"&quot;", "\""}, {"&#39;", "'"}, {"&nbsp;", "\xc2\xa0"}, {"&amp;", "&"}};
  for (const auto& [from, to] : entities)
    for (size_t p; (p = s.find(from)) != std::string::npos;) s.replace(p, std::strlen(from), to);
  return s;
}

// Headless Chromium driven over --remote-debugging-pipe (the DevTools protocol on fds 3 and 4, messages ending
// in NUL): opens url, then evaluates JavaScript in the page.
class HeadlessBrowser {
 public:
  HeadlessBrowser(const std::string& chromium, const std::string& profile, const std::string& url) {
    int to_browser[2], from_browser[2];
    if (pipe(to_browser) != 0 || pipe(from_browser) != 0) return;
    pid_ = fork();
    if (pid_ == 0) {
      dup2(to_browser[0], 3);
      dup2(from_browser[1], 4);
      for (int fd = 5; fd < 1024; ++fd) close(fd);
      int devnull = open("/dev/null", O_WRONLY);
      dup2(devnull, 1);
      dup2(devnull, 2);
      const std::string user_dir = "--user-data-dir=" + profile;
      execlp(chromium.c_str(), chromium.c_str(), "--headless", "--disable-gpu", "--no-sandbox", "--no-first-run",
             "--remote-debugging-pipe", user_dir.c_str(), url.c_str(), static_cast<char*>(nullptr));
      _exit(127);
    }
    close(to_browser[0]);
    close(from_browser[1]);
    out_ = to_browser[1];
    in_ = from_browser[0];
    if (pid_ < 0) return;
    // The page target, and a session attached to it.
    for (int i = 0; i < 100 && session_.empty(); ++i) {
      json r = call("Target.getTargets", json::object());
      for (const json& t : r["result"]["targetInfos"])
        if (t["type"] == "page") {
          json a = call("Target.attachToTarget", {{"targetId", t["targetId"]}, {"flatten", true}});
          session_ = a["result"].value("sessionId", "");
          break;
        }
      if (session_.empty()) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  }
  ~HeadlessBrowser() {
    if (pid_ > 0) {
      call("Browser.close", json::object(), "", 5000);
      for (int i = 0; i < 50 && waitpid(pid_, nullptr, WNOHANG) == 0; ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
      if (waitpid(pid_, nullptr, WNOHANG) == 0) {
        kill(pid_, SIGKILL);
        waitpid(pid_, nullptr, 0);
      }
    }
    if (out_ >= 0) close(out_);
    if (in_ >= 0) close(in_);
  }
  bool ok() const { return pid_ > 0 && !session_.empty(); }
  // The value of a JavaScript expression in the page, as a string ("" on failure).
  std::string evaluate(const std::string& expr) {
    json r = call("Runtime.evaluate", {{"expression", expr}, {"returnByValue", true}}, session_);
    const json& v = r["result"]["result"]["value"];
    return v.is_string() ? v.get<std::string>() : "";
  }

 private:
  json call(const std::string& method, const json& params, const std::string& session = "", int timeout_ms = 30000) {
    const int id = ++next_id_;
    json msg = {{"id", id}, {"method", method}, {"params", params}};
    if (!session.empty()) msg["sessionId"] = session;
    const std::string text = msg.dump() + std::string(1, '\0');
    if (write(out_, text.data(), text.size()) != static_cast<ssize_t>(text.size())) return json::object();
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    for (;;) {
      for (size_t nul; (nul = buf_.find('\0')) != std::string::npos;) {
        json reply = json::parse(buf_.substr(0, nul), nullptr, false);
        buf_.erase(0, nul + 1);
        if (reply.is_object() && reply.value("id", -1) == id) return reply;
      }
      const int left = static_cast<int>(
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()).count());
      if (left <= 0) return json::object();
      pollfd p{in_, POLLIN, 0};
      if (poll(&p, 1, left) <= 0) return json::object();
      char chunk[65536];
      const ssize_t n = read(in_, chunk, sizeof chunk);
      if (n <= 0) return json::object();
      buf_.append(chunk, n);
    }
  }

  pid_t pid_ = -1;
  int out_ = -1, in_ = -1;
  int next_id_ = 0;
  std::string buf_;
  std::string session_;
};

TEST(ServeWeb, PageIsServedWithoutKey) {
  HEARTH_REQUIRE_FIXTURE(stories_path());
  ServerOptions o = stories_options(1, 128);
  o.api_key = "sekrit";
  RunningServer s(o);
  auto c = s.client();
  auto r = c.Get("/");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->get_header_value("Content-Type").rfind("text/html", 0), 0u);
  EXPECT_NE(r->body.find("<title>hearth chat</title>"), std::string::npos);
  EXPECT_NE(r->body.find("/v1/chat/completions"), std::string::npos);
  // Self-contained: no script, style or font from anywhere else.
  EXPECT_EQ(r->body.find("src=\"http"), std::string::npos);
  EXPECT_EQ(r->body.find("href=\"http"), std::string::npos);
  EXPECT_EQ(r->body.find("@import"), std::string::npos);
  // The API itself still needs the key.
  r = c.Get("/v1/models");
  EXPECT_EQ(r->status, 401);
  r = c.Post("/", "{}", "application/json");
  EXPECT_NE(r->status, 200);
}

TEST(ServeWeb, ChromiumChatRoundTrip) {
  HEARTH_REQUIRE_FIXTURE(stories_path());
  const std::string chromium = find_chromium();
  if (chromium.empty()) GTEST_SKIP() << "chromium not installed (Debian: apt-get install chromium)";
  ServerOptions o = stories_options(2, 128);
  o.api_key = "k3y";  // the page sends it from its API key field (filled from the query string here)
  RunningServer s(o);

  // The reply the same request gets over the API.
  auto c = s.client();
  c.set_bearer_token_auth("k3y");
  auto r = post_json(c, "/v1/chat/completions",
                     {{"model", "stories"},
                      {"messages", {{{"role", "user"}, {"content", "Once upon a time"}}}},
                      {"temperature", 0},
                      {"max_tokens", 20}});
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  const std::string want = json::parse(r->body)["choices"][0]["message"]["content"];
  ASSERT_FALSE(want.empty());

  namespace fs = std::filesystem;
  const fs::path profile = fs::path(HEARTH_TEST_TMP) / "serve-web-chromium";
  fs::remove_all(profile);
  fs::create_directories(profile);
  const std::string url = "http://127.0.0.1:" + std::to_string(s.port) +
                          "/?prompt=Once%20upon%20a%20time&temperature=0&max_tokens=20&model=stories&api_key=k3y";
  // --dump-dom with a virtual-time budget does not wait for a streamed body to end, so the test drives the
  // browser over the DevTools protocol instead: it waits until the page says the reply is complete.
  std::string html;
  {
    HeadlessBrowser browser(chromium, profile.string(), url);
    ASSERT_TRUE(browser.ok()) << "could not start " << chromium;
    const std::string status_js = "(document.getElementById('status') || {}).textContent || ''";
    std::string status;
    for (int i = 0; i < 600; ++i) {  // at most about a minute
      status = browser.evaluate(status_js);
      if (status.rfind("done", 0) == 0 || status == "error" || status == "stopped") break;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    html = browser.evaluate("document.documentElement.outerHTML");
    // The key left the address bar (and the history) once the page had read it; the rest of the query stayed.
    const std::string search = browser.evaluate("location.search");
    EXPECT_EQ(search.find("api_key"), std::string::npos) << search;
    EXPECT_NE(search.find("max_tokens=20"), std::string::npos) << search;
  }
  fs::remove_all(profile);
  const CommandResult dom{0, html};
  std::smatch m;
  ASSERT_TRUE(std::regex_search(dom.out, m, std::regex("<div id=\"status\">([^<]*)</div>"))) << dom.out;
  EXPECT_EQ(m[1].str().rfind("done", 0), 0u) << m[1].str();
  // The user's message, then the assistant's streamed reply.
  const std::regex content("<div class=\"msg (user|assistant)\"><div class=\"role\">[a-z]+</div><div class=\"content\">"
                           "([^<]*)</div></div>");
  std::vector<std::pair<std::string, std::string>> msgs;
  for (auto it = std::sregex_iterator(dom.out.begin(), dom.out.end(), content); it != std::sregex_iterator(); ++it)
    msgs.emplace_back((*it)[1].str(), html_unescape((*it)[2].str()));
  ASSERT_EQ(msgs.size(), 2u) << dom.out;
  EXPECT_EQ(msgs[0].first, "user");
  EXPECT_EQ(msgs[0].second, "Once upon a time");
  EXPECT_EQ(msgs[1].first, "assistant");
  EXPECT_EQ(msgs[1].second, want);
}

}  // namespace
}  // namespace hearth::test

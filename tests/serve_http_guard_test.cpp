// The HTTP layer's defences against browsers and slow clients, against the real server on loopback: Host
// checks (DNS rebinding), Origin checks and CORS preflights (CSRF), request deadlines and the per-client
// connection limit (slowloris), the API key from a file and the bearer scheme in any case, and request bodies
// of any content type read as the JSON they are.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <arpa/inet.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <thread>

#include "hearth/error.h"
#include "hearth/store.h"
#include "serve/api_key.h"
#include "serve/http_policy.h"
#include "serve_test_util.h"

namespace hearth {
namespace {

namespace fs = std::filesystem;
using test::json;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

fs::path test_dir() {
  const fs::path d = fs::path(HEARTH_TEST_TMP) /
                     (std::string("http-guard-") + ::testing::UnitTest::GetInstance()->current_test_info()->name());
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

// A server with an empty model store: the HTTP layer needs no model.
ServerOptions empty_options() {
  ServerOptions o;
  o.port = 0;
  o.models_dir = (test_dir() / "models").string();
  fs::create_directories(o.models_dir);
  return o;
}

// A plain TCP connection to the server, for what no HTTP client does (trickling a request, holding a socket).
struct RawConnection {
  int fd = -1;
  explicit RawConnection(int port) {
    fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
      ::close(fd);
      fd = -1;
    }
  }
  ~RawConnection() { close(); }
  void close() {
    if (fd >= 0) ::close(fd);
    fd = -1;
  }
  bool send(const std::string& s) const { return ::send(fd, s.data(), s.size(), MSG_NOSIGNAL) == ssize_t(s.size()); }
  // What the server sends until it closes the connection, or until `wait` passes; closed tells which.
  std::string read_until_closed(std::chrono::milliseconds wait, bool* closed) const {
    std::string got;
    *closed = false;
    const auto end = Clock::now() + wait;
    while (Clock::now() < end) {
      pollfd p{fd, POLLIN, 0};
      const int left = int(std::chrono::duration_cast<std::chrono::milliseconds>(end - Clock::now()).count());
      if (::poll(&p, 1, std::max(left, 1)) <= 0) continue;
      char buf[4096];
      const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
      if (n <= 0) {
        *closed = true;
        break;
      }
      got.append(buf, size_t(n));
    }
    return got;
  }
};

httplib::Client client_for(int port) {
  httplib::Client c("127.0.0.1", port);
  c.set_connection_timeout(2);
  c.set_read_timeout(10);
  return c;
}

// --- Host (DNS rebinding) ---

TEST(ServeHttpGuard, HostAndOriginRules) {
  using namespace serve;
  EXPECT_EQ(host_name_of("LocalHost:8080"), "localhost");
  EXPECT_EQ(host_name_of("[::1]:8080"), "::1");
  EXPECT_EQ(host_name_of("[::1]"), "::1");
  EXPECT_EQ(host_name_of("::1"), "::1");  // a bare IPv6 literal has no port
  EXPECT_EQ(host_name_of("example.org.:80"), "example.org");
  const HttpPolicy p = make_http_policy("0.0.0.0", {"LLM.example.org:443"}, {"http://App.example:3000/"});
  for (const char* ok : {"", "127.0.0.1", "10.0.0.5:8080", "[fe80::1]:80", "localhost", "app.localhost:8080",
                         "llm.example.org", "0.0.0.0:8080"})
    EXPECT_TRUE(host_allowed(p, ok)) << ok;
  for (const char* bad : {"evil.example", "localhost.evil.example", "127.0.0.1.evil.example", "llm.example.org.evil",
                          "[evil]"})
    EXPECT_FALSE(host_allowed(p, bad)) << bad;
  EXPECT_TRUE(origin_allowed(p, "http://app.example:3000", "127.0.0.1:8080", 8080));
  EXPECT_TRUE(origin_allowed(p, "http://10.0.0.5:8080", "10.0.0.5:8080", 8080));  // the page this server served
  EXPECT_TRUE(origin_allowed(p, "http://localhost:8080", "127.0.0.1:8080", 8080));
  EXPECT_FALSE(origin_allowed(p, "http://localhost:8081", "127.0.0.1:8080", 8080));
  EXPECT_FALSE(origin_allowed(p, "http://app.example:3001", "127.0.0.1:8080", 8080));
  EXPECT_FALSE(origin_allowed(p, "null", "127.0.0.1:8080", 8080));
  EXPECT_FALSE(origin_allowed(p, "http://127.0.0.1:8080/x", "127.0.0.1:8080", 8080));
  EXPECT_FALSE(origin_allowed(p, "ftp://127.0.0.1:8080", "127.0.0.1:8080", 8080));
  EXPECT_TRUE(origin_allowed(make_http_policy("127.0.0.1", {}, {"*"}), "null", "127.0.0.1:8080", 8080));

  EXPECT_EQ(bearer_token("Bearer abc"), "abc");
  EXPECT_EQ(bearer_token("  bearer \t abc \t"), "abc");
  EXPECT_EQ(bearer_token("Bearerabc"), "");
  EXPECT_EQ(bearer_token("Basic abc"), "");
  EXPECT_TRUE(same_key("abc", "abc"));
  EXPECT_FALSE(same_key("abd", "abc"));
  EXPECT_FALSE(same_key("", ""));
}

TEST(ServeHttpGuard, ForeignHostIsRefused) {
  test::RunningServer s(empty_options());
  auto c = client_for(s.port);
  auto r = c.Get("/api/tags", {{"Host", "evil.example"}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 403);
  EXPECT_NE(r->body.find("--allowed-hosts"), std::string::npos) << r->body;
  r = c.Get("/health", {{"Host", "rebind.evil.example:" + std::to_string(s.port)}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 403);
}

TEST(ServeHttpGuard, LoopbackNamesAndAddressesAreAccepted) {
  test::RunningServer s(empty_options());
  auto c = client_for(s.port);
  const std::string port = std::to_string(s.port);
  const std::vector<std::string> hosts = {"127.0.0.1:" + port, "127.0.0.1", "localhost:" + port, "LocalHost",
                                          "[::1]:" + port, "[::1]", "localhost.", "192.168.1.7:" + port};
  for (const std::string& host : hosts) {
    auto r = c.Get("/api/tags", {{"Host", host}});
    ASSERT_TRUE(r) << host;
    EXPECT_EQ(r->status, 200) << host << ": " << r->body;
  }
  // httplib's own Host header.
  auto r = c.Get("/api/tags");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
}

TEST(ServeHttpGuard, AllowedHostsAreAccepted) {
  ServerOptions o = empty_options();
  o.allowed_hosts = {"hearth.example", "Models.Example.Org"};
  test::RunningServer s(o);
  auto c = client_for(s.port);
  for (const std::string host : {"hearth.example", "hearth.example:443", "models.example.org"}) {
    auto r = c.Get("/api/tags", {{"Host", host}});
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200) << host;
  }
  auto r = c.Get("/api/tags", {{"Host", "evil.example"}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 403);

  ServerOptions any = empty_options();
  any.allowed_hosts = {"*"};
  test::RunningServer s2(any);
  auto c2 = client_for(s2.port);
  r = c2.Get("/api/tags", {{"Host", "evil.example"}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
}

// --- Origin (CSRF) and CORS ---

TEST(ServeHttpGuard, ForeignOriginCannotDeleteAModel) {
  HEARTH_REQUIRE_FIXTURE(test::stories_path());
  ServerOptions o = empty_options();
  ModelStore(o.models_dir).import_file(test::stories_path(), "stories");
  test::RunningServer s(o);
  auto c = client_for(s.port);
  auto listed = [&] {
    auto t = c.Get("/api/tags");
    return t && t->body.find("stories") != std::string::npos;
  };
  ASSERT_TRUE(listed());
  // What a page elsewhere can send without a preflight: a text/plain POST (DELETE needs one, but is refused too).
  auto r = c.Post("/api/delete", {{"Origin", "http://evil.example"}}, R"({"model":"stories"})", "text/plain");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 403) << r->body;
  EXPECT_NE(r->body.find("--allowed-origins"), std::string::npos) << r->body;
  EXPECT_FALSE(r->has_header("Access-Control-Allow-Origin"));
  r = c.Delete("/api/delete", {{"Origin", "http://evil.example"}}, R"({"model":"stories"})", "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 403);
  r = c.Post("/api/generate", {{"Origin", "null"}}, R"({"model":"stories","prompt":"hi"})", "text/plain");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 403);
  // A page on another port of this machine is another site too.
  r = c.Post("/api/delete", {{"Origin", "http://127.0.0.1:1"}}, R"({"model":"stories"})", "text/plain");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 403);
  EXPECT_TRUE(listed());
  // The server's own page (same origin) may.
  r = c.Delete("/api/delete", {{"Origin", "http://127.0.0.1:" + std::to_string(s.port)}}, R"({"model":"stories"})",
               "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200) << r->body;
  EXPECT_FALSE(listed());
}

TEST(ServeHttpGuard, OwnAndAllowedOriginsAreServedWithCorsHeaders) {
  ServerOptions o = empty_options();
  o.allowed_origins = {"https://app.example"};
  test::RunningServer s(o);
  auto c = client_for(s.port);
  const std::string port = std::to_string(s.port);
  const std::vector<std::string> origins = {"http://127.0.0.1:" + port, "http://localhost:" + port,
                                            "http://[::1]:" + port, "https://app.example", "HTTPS://APP.EXAMPLE"};
  for (const std::string& origin : origins) {
    auto r = c.Get("/api/tags", {{"Origin", origin}});
    ASSERT_TRUE(r) << origin;
    EXPECT_EQ(r->status, 200) << origin << ": " << r->body;
    EXPECT_EQ(r->get_header_value("Access-Control-Allow-Origin"), origin);
    EXPECT_NE(r->get_header_value("Vary").find("Origin"), std::string::npos);
  }
  // Same origin under another name the Host allows: a page loaded from http://localhost.:PORT.
  auto r = c.Get("/api/tags", {{"Host", "localhost.:" + port}, {"Origin", "http://localhost.:" + port}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  r = c.Get("/api/tags", {{"Origin", "https://app.example.evil.example"}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 403);
  // Without an Origin (curl, SDKs): as before, and no CORS headers.
  r = c.Get("/api/tags");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_FALSE(r->has_header("Access-Control-Allow-Origin"));

  ServerOptions any = empty_options();
  any.allowed_origins = {"*"};
  test::RunningServer s2(any);
  auto c2 = client_for(s2.port);
  r = c2.Post("/api/show", {{"Origin", "http://evil.example"}}, R"({"model":"none"})", "text/plain");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 404) << r->body;  // past the Origin check: the model is unknown
  EXPECT_EQ(r->get_header_value("Access-Control-Allow-Origin"), "http://evil.example");
}

TEST(ServeHttpGuard, PreflightsAreAnsweredForAllowedOriginsOnly) {
  ServerOptions o = empty_options();
  o.api_key = "sekrit";  // preflights carry no key
  o.allowed_origins = {"http://app.example:3000"};
  test::RunningServer s(o);
  auto c = client_for(s.port);
  auto r = c.Options("/v1/chat/completions", {{"Origin", "http://app.example:3000"},
                                               {"Access-Control-Request-Method", "POST"},
                                               {"Access-Control-Request-Headers",
                                                "authorization, content-type, x-stainless-os"},
                                               {"Access-Control-Request-Private-Network", "true"}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 204) << r->body;
  EXPECT_EQ(r->get_header_value("Access-Control-Allow-Origin"), "http://app.example:3000");
  EXPECT_NE(r->get_header_value("Access-Control-Allow-Methods").find("POST"), std::string::npos);
  EXPECT_NE(r->get_header_value("Access-Control-Allow-Methods").find("DELETE"), std::string::npos);
  EXPECT_NE(r->get_header_value("Access-Control-Allow-Headers").find("Authorization"), std::string::npos);
  EXPECT_NE(r->get_header_value("Access-Control-Allow-Headers").find("Content-Type"), std::string::npos);
  EXPECT_NE(r->get_header_value("Access-Control-Allow-Headers").find("x-stainless-os"), std::string::npos);
  EXPECT_EQ(r->get_header_value("Access-Control-Allow-Private-Network"), "true");
  EXPECT_NE(r->get_header_value("Vary").find("Origin"), std::string::npos);
  EXPECT_FALSE(r->get_header_value("Access-Control-Max-Age").empty());

  r = c.Options("/api/delete", {{"Origin", "http://evil.example"}, {"Access-Control-Request-Method", "DELETE"}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 403);
  EXPECT_FALSE(r->has_header("Access-Control-Allow-Origin"));

  // The real request from the allowed page, with the key.
  r = c.Get("/v1/models", {{"Origin", "http://app.example:3000"}, {"Authorization", "Bearer sekrit"}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->get_header_value("Access-Control-Allow-Origin"), "http://app.example:3000");
}

// --- slowloris ---

TEST(ServeHttpGuard, SlowClientsDoNotStarveOthers) {
  ServerOptions o = empty_options();
  o.http_threads = 4;
  o.parallel = 1;  // 6 HTTP threads
  o.header_timeout_ms = 1000;
  o.max_client_connections = 1000;  // the deadline alone, here
  test::RunningServer s(o);
  constexpr int kSlow = 12;  // twice the threads
  std::vector<std::unique_ptr<RawConnection>> slow;
  for (int i = 0; i < kSlow; ++i) {
    slow.push_back(std::make_unique<RawConnection>(s.port));
    ASSERT_GE(slow.back()->fd, 0);
    ASSERT_TRUE(slow.back()->send("GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n"));
  }
  // One more header line every 200 ms for 8 s, as long as the server listens.
  std::atomic<bool> done{false};
  std::thread trickle([&] {
    for (int t = 0; t < 40 && !done; ++t) {
      std::this_thread::sleep_for(200ms);
      for (auto& c : slow) c->send("X-Slow-" + std::to_string(t) + ": 1\r\n");
    }
  });
  std::this_thread::sleep_for(300ms);
  const auto t0 = Clock::now();
  auto c = client_for(s.port);
  c.set_read_timeout(5);
  auto r = c.Get("/health");
  const double waited = std::chrono::duration<double>(Clock::now() - t0).count();
  EXPECT_TRUE(r && r->status == 200) << "no answer from /health while slow clients held the threads";
  EXPECT_LT(waited, 4.0);
  // Every slow connection is answered 408 and closed within its deadline (plus the queue it waited in).
  for (auto& sc : slow) {
    bool closed = false;
    const std::string got = sc->read_until_closed(5000ms, &closed);
    EXPECT_TRUE(closed);
    EXPECT_EQ(got.rfind("HTTP/1.1 408", 0), 0u) << got.substr(0, 200);
  }
  done = true;
  trickle.join();
}

// The issue's probe with the default limits: 66 connections trickling header lines from this machine (not
// limited per client: they are loopback) while /health is asked for.
TEST(ServeHttpGuard, SlowClientsDoNotStarveOthersWithDefaults) {
  test::RunningServer s(empty_options());
  constexpr int kSlow = 66;
  std::vector<std::unique_ptr<RawConnection>> slow;
  for (int i = 0; i < kSlow; ++i) {
    slow.push_back(std::make_unique<RawConnection>(s.port));
    ASSERT_GE(slow.back()->fd, 0);
    ASSERT_TRUE(slow.back()->send("GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n"));
  }
  std::this_thread::sleep_for(300ms);
  for (auto& c : slow) c->send("X-Slow: 1\r\n");
  const auto t0 = Clock::now();
  auto c = client_for(s.port);
  c.set_read_timeout(3);
  auto r = c.Get("/health");
  const double waited = std::chrono::duration<double>(Clock::now() - t0).count();
  EXPECT_TRUE(r && r->status == 200) << "no answer from /health while slow clients held the threads";
  EXPECT_LT(waited, 2.0);
  for (auto& sc : slow) sc->close();
}

TEST(ServeHttpGuard, ConnectionsPerClientAreLimited) {
  ServerOptions o = empty_options();
  o.max_client_connections = 2;
  test::RunningServer s(o);
  RawConnection a(s.port), b(s.port);
  ASSERT_GE(a.fd, 0);
  ASSERT_GE(b.fd, 0);
  std::this_thread::sleep_for(300ms);  // both taken up by the server
  auto c = client_for(s.port);
  auto r = c.Get("/health");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 429);
  EXPECT_NE(r->body.find("--max-client-connections"), std::string::npos) << r->body;
  a.close();
  bool up = false;
  for (int i = 0; i < 40 && !up; ++i) {
    std::this_thread::sleep_for(50ms);
    r = c.Get("/health");
    up = r && r->status == 200;
  }
  EXPECT_TRUE(up) << "a closed connection still counted";
}

// --- the API key ---

TEST(ServeHttpGuard, BearerSchemeInAnyCase) {
  ServerOptions o = empty_options();
  o.api_key = "sekrit";
  test::RunningServer s(o);
  auto c = client_for(s.port);
  for (const std::string auth : {"Bearer sekrit", "bearer sekrit", "BEARER sekrit", "Bearer   sekrit", "bEaReR\tsekrit",
                                 "Bearer sekrit  "}) {
    auto r = c.Get("/v1/models", {{"Authorization", auth}});
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200) << "'" << auth << "'";
  }
  for (const std::string auth : {"Basic sekrit", "Bearersekrit", "Bearer sekri", "Bearer sekrit2", "sekrit", "Bearer"}) {
    auto r = c.Get("/v1/models", {{"Authorization", auth}});
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 401) << "'" << auth << "'";
  }
}

void write_file(const fs::path& p, const std::string& text, mode_t mode) {
  std::ofstream(p, std::ios::binary) << text;
  ::chmod(p.c_str(), mode);
}

TEST(ServeHttpGuard, ApiKeyFileMustBePrivate) {
  const fs::path d = test_dir();
  write_file(d / "key", "s3cret\n", 0600);
  EXPECT_EQ(read_api_key_file((d / "key").string()), "s3cret");
  write_file(d / "crlf", "s3cret\r\n", 0400);
  EXPECT_EQ(read_api_key_file((d / "crlf").string()), "s3cret");
  write_file(d / "open", "s3cret\n", 0644);
  try {
    read_api_key_file((d / "open").string());
    ADD_FAILURE() << "a world-readable key file was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("0644"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("chmod 600"), std::string::npos) << e.what();
  }
  write_file(d / "group", "s3cret\n", 0640);
  EXPECT_THROW(read_api_key_file((d / "group").string()), Error);
  write_file(d / "empty", "\n", 0600);
  EXPECT_THROW(read_api_key_file((d / "empty").string()), Error);
  EXPECT_THROW(read_api_key_file((d / "missing").string()), Error);
}

TEST(ServeHttpGuard, ApiKeyFileFromTheCommandLine) {
  if (!fs::exists(HEARTH_BINARY)) GTEST_SKIP() << "hearth binary not built: " << HEARTH_BINARY;
  const fs::path d = test_dir();
  write_file(d / "key", "s3cret\n", 0644);
  auto r = test::run_command(std::string(HEARTH_BINARY) + " serve --port 0 --models '" + d.string() +
                             "' --api-key-file '" + (d / "key").string() + "' 2>&1");
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.out.find("0644"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("s3cret"), std::string::npos) << r.out;
}

TEST(ServeHttpGuard, KeyInTheWebPageQueryIsNotLogged) {
  ServerOptions o = empty_options();
  o.api_key = "sekrit";
  std::mutex m;
  std::string log;
  o.access_log = [&](const std::string& line) {
    std::lock_guard<std::mutex> lock(m);
    log += line + "\n";
  };
  {
    test::RunningServer s(o);
    auto c = client_for(s.port);
    auto r = c.Get("/?prompt=hi&api_key=sekrit");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
  }
  std::lock_guard<std::mutex> lock(m);
  EXPECT_NE(log.find("GET /"), std::string::npos) << log;
  EXPECT_EQ(log.find("sekrit"), std::string::npos) << log;
}

// --- bodies of any content type ---

TEST(ServeHttpGuard, FormEncodedBodyIsReadAsJson) {
  test::RunningServer s(empty_options());
  auto c = client_for(s.port);
  // What `curl -d @request.json` sends: application/x-www-form-urlencoded, here 20 KB.
  const std::string body = json({{"model", "no-such-model"}, {"pad", std::string(20000, 'x')}}).dump();
  for (const std::string type : {"application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "text/plain"}) {
    auto r = c.Post("/api/show", body, type);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 404) << type << ": " << r->body.substr(0, 300);
    EXPECT_NE(r->body.find("no-such-model"), std::string::npos) << type << ": " << r->body.substr(0, 300);
  }
}

TEST(ServeHttpGuard, OverLimitBodyNamesTheLimit) {
  ServerOptions o = empty_options();
  o.max_body_bytes = 16384;
  test::RunningServer s(o);
  auto c = client_for(s.port);
  const std::string body = json({{"model", "no-such-model"}, {"pad", std::string(20000, 'x')}}).dump();
  for (const std::string type : {"application/x-www-form-urlencoded", "application/json"}) {
    auto r = c.Post("/api/show", body, type);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 413) << type;
    EXPECT_NE(r->body.find("16384 bytes"), std::string::npos) << r->body;
  }
}

}  // namespace
}  // namespace hearth

// Who a download talks to and what it sends: HF_TOKEN only to huggingface.co hosts over https (never to a URL
// that merely mentions it, never after a redirect elsewhere), no private destinations when refused (after DNS,
// on every redirect, one error for all), size caps by Content-Length and by bytes, and a bad Content-Length as
// a clear error. Local HTTP servers in this process record what they receive.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <mutex>
#include <thread>
#include <vector>

#include "hearth/download.h"
#include "hearth/error.h"
#include "test_util.h"

#ifdef HEARTH_HAVE_HTTP
#include <httplib.h>

namespace hearth {
namespace {

namespace fs = std::filesystem;

TEST(HfToken, OnlyHuggingFaceHostsOverHttps) {
  for (const char* yes : {"https://huggingface.co/org/repo/resolve/main/x.gguf", "https://cdn-lfs.huggingface.co/x",
                          "https://HuggingFace.CO./x", "https://huggingface.co:443/x", "HTTPS://huggingface.co",
                          "https://a.b.huggingface.co/x?y#z"})
    EXPECT_TRUE(hf_token_allowed(yes)) << yes;
  for (const char* no : {
           "http://huggingface.co/x",                 // not https
           "https://evil.example/?huggingface.co",    // a query string
           "https://evil.example/huggingface.co/x",   // a path
           "https://evil.example/#huggingface.co",    // a fragment
           "https://huggingface.co@evil.example/",    // userinfo: the host is evil.example
           "https://user:pw@huggingface.co/",         // credentials in the URL: refused altogether
           "https://evil.example\\@huggingface.co/",  // browsers read '\' as '/': the host is evil.example
           "https://huggingface.co.evil.example/",    // a longer name
           "https://evilhuggingface.co/",             // not a subdomain
           "https://huggingface.co%2eevil.example/",  // escapes in the host
           "https://huggingface.co../", "https://[::1]/", "ftp://huggingface.co/", "huggingface.co/x", "",
       })
    EXPECT_FALSE(hf_token_allowed(no)) << no;
}

TEST(PublicAddress, RefusesLocalPrivateAndSpecialRanges) {
  for (const char* ip : {"127.0.0.1", "127.255.0.9", "10.1.2.3", "172.16.0.1", "172.31.255.255", "192.168.1.1",
                         "100.64.0.1", "100.127.255.254", "169.254.169.254", "0.0.0.0", "0.1.2.3", "224.0.0.1",
                         "239.255.255.250", "255.255.255.255", "240.0.0.1", "198.18.0.1", "192.0.2.7", "::", "::1",
                         "fc00::1", "fd12:3456::1", "fe80::1", "febf::1", "fec0::1", "ff02::1", "::ffff:127.0.0.1",
                         "::ffff:10.0.0.1", "::ffff:169.254.169.254", "::127.0.0.1", "::ffff:0:127.0.0.1", "64:ff9b::a00:1",
                         "64:ff9b:1::1", "2002:7f00:1::", "2002:c0a8:101::1", "2001:db8::1", "100::1", "not-an-ip", ""})
    EXPECT_FALSE(is_public_address(ip)) << ip;
  for (const char* ip : {"8.8.8.8", "1.1.1.1", "172.32.0.1", "100.128.0.1", "169.255.0.1", "2606:4700::1111",
                         "::ffff:8.8.8.8", "64:ff9b::808:808", "2002:808:808::1"})
    EXPECT_TRUE(is_public_address(ip)) << ip;
}

// An HTTP server on a loopback address that records the Authorization headers and requests it receives.
struct Recorder {
  httplib::Server server;
  std::thread thread;
  int port = 0;
  std::string host;
  std::mutex mu;
  std::vector<std::string> auth;  // one per request: its Authorization header ("" when none)

  explicit Recorder(const std::string& bind_host) : host(bind_host) {
    server.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response&) {
      std::lock_guard<std::mutex> g(mu);
      auth.push_back(req.get_header_value("Authorization"));
      return httplib::Server::HandlerResponse::Unhandled;
    });
    server.Get("/file", [](const httplib::Request&, httplib::Response& res) {
      res.set_content(std::string(3000, 'x'), "application/octet-stream");
    });
    port = server.bind_to_any_port(host);
    if (port > 0) thread = std::thread([this] { server.listen_after_bind(); });
    while (port > 0 && !server.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ~Recorder() {
    server.stop();
    if (thread.joinable()) thread.join();
  }
  std::string url(const std::string& path) const { return "http://" + host + ":" + std::to_string(port) + path; }
  std::vector<std::string> seen() {
    std::lock_guard<std::mutex> g(mu);
    return auth;
  }
};

class DownloadPolicy : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::path(HEARTH_TEST_TMP) / (std::string("download-policy-") +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    setenv("HF_TOKEN", "hf_secret", 1);
  }
  void TearDown() override {
    unsetenv("HF_TOKEN");
    fs::remove_all(dir_);
  }
  std::string dest(const std::string& name = "out") const { return (dir_ / name).string(); }
  // The error of a download, "no error" when it succeeds.
  std::string error_of(const std::string& url, const DownloadOptions& o = {}) {
    try {
      download_file(url, dest(), nullptr, o);
    } catch (const Error& e) {
      return e.what();
    } catch (const std::exception& e) {
      return std::string("not a hearth::Error: ") + e.what();
    }
    return "no error";
  }
  fs::path dir_;
};

TEST_F(DownloadPolicy, TokenNotSentToUrlsThatOnlyMentionHuggingFace) {
  Recorder a("127.0.0.1");
  ASSERT_GT(a.port, 0);
  EXPECT_EQ(error_of(a.url("/file?mirror=huggingface.co")), "no error");
  EXPECT_EQ(error_of(a.url("/file#huggingface.co")), "no error");
  ASSERT_EQ(a.seen().size(), 2u);
  EXPECT_EQ(a.seen()[0], "");
  EXPECT_EQ(a.seen()[1], "");
}

TEST_F(DownloadPolicy, TokenDroppedOnRedirectToAnotherHost) {
  Recorder a("127.0.0.1"), b("127.0.0.2");  // two hosts (all of 127/8 is loopback on Linux)
  if (b.port <= 0) GTEST_SKIP() << "cannot bind 127.0.0.2";
  ASSERT_GT(a.port, 0);
  a.server.Get("/away", [&](const httplib::Request&, httplib::Response& res) { res.set_redirect(b.url("/file")); });
  a.server.Get("/here", [](const httplib::Request&, httplib::Response& res) { res.set_redirect("/file"); });
  // With the real rule: a plain-http URL that mentions huggingface.co gets no token, here or there.
  EXPECT_EQ(error_of(a.url("/away?huggingface.co")), "no error");
  EXPECT_EQ(a.seen().back(), "");
  EXPECT_EQ(b.seen().back(), "");
  // With host A taken for a token host (the https rule cannot be served here): A gets it, also after a
  // redirect that stays on A; B, after a redirect away, does not.
  DownloadOptions o;
  o.token_allowed = [&](const std::string& url) { return url.rfind("http://127.0.0.1:", 0) == 0; };
  fs::remove(dest());
  EXPECT_EQ(error_of(a.url("/here"), o), "no error");
  ASSERT_EQ(a.seen().size(), 3u);
  EXPECT_EQ(a.seen()[1], "Bearer hf_secret");
  EXPECT_EQ(a.seen()[2], "Bearer hf_secret");
  fs::remove(dest());
  EXPECT_EQ(error_of(a.url("/away"), o), "no error");
  ASSERT_EQ(a.seen().size(), 4u);
  EXPECT_EQ(a.seen()[3], "Bearer hf_secret");
  ASSERT_EQ(b.seen().size(), 2u);
  EXPECT_EQ(b.seen()[1], "");
  // Sticky: a redirect back to a token host after leaving does not get it back either.
  b.server.Get("/back", [&](const httplib::Request&, httplib::Response& res) { res.set_redirect(a.url("/file")); });
  a.server.Get("/round", [&](const httplib::Request&, httplib::Response& res) { res.set_redirect(b.url("/back")); });
  fs::remove(dest());
  EXPECT_EQ(error_of(a.url("/round"), o), "no error");
  EXPECT_EQ(a.seen().back(), "");
}

TEST_F(DownloadPolicy, PrivateDestinationsRefusedWithOneError) {
  Recorder a("127.0.0.1");
  ASSERT_GT(a.port, 0);
  DownloadOptions o;
  o.allow_private = false;
  const std::string port = std::to_string(a.port);
  // Loopback by name, in odd spellings getaddrinfo accepts, and as IPv6: refused before any connection.
  for (const std::string host : {"127.0.0.1", "localhost", "2130706433", "0x7f.1", "127.1", "[::1]",
                                 "[::ffff:127.0.0.1]", "LOCALHOST."}) {
    const std::string e = error_of("http://" + host + ":" + port + "/file", o);
    EXPECT_NE(e.find("cannot connect to "), std::string::npos) << host << ": " << e;
    EXPECT_NE(e.find("not a public internet address"), std::string::npos) << host << ": " << e;
  }
  EXPECT_TRUE(a.seen().empty());
  EXPECT_FALSE(fs::exists(dest()));
  // A listening port, a closed one, and a name that does not resolve read the same (no port scanner).
  const std::string closed = "http://127.0.0.1:1/file";
  EXPECT_EQ(error_of(a.url("/file"), o), "download of " + a.url("/file") + error_of(closed, o).substr(("download of " + closed).size()));
  const std::string nx = error_of("http://no-such-host.invalid/file", o);
  EXPECT_EQ(nx.substr(nx.find(" (")), error_of(closed, o).substr(error_of(closed, o).find(" (")));
  // Allowed (the CLI's default): the same URL works.
  EXPECT_EQ(error_of(a.url("/file")), "no error");
}

TEST_F(DownloadPolicy, RedirectToAPrivateAddressRefused) {
  Recorder a("127.0.0.1"), b("127.0.0.2");
  if (b.port <= 0) GTEST_SKIP() << "cannot bind 127.0.0.2";
  a.server.Get("/away", [&](const httplib::Request&, httplib::Response& res) { res.set_redirect(b.url("/file")); });
  a.server.Get("/here", [](const httplib::Request&, httplib::Response& res) { res.set_redirect("/file"); });
  DownloadOptions o;
  o.allow_private = false;
  o.address_allowed = [](const std::string& ip) { return ip == "127.0.0.1"; };  // A stands for a public host
  EXPECT_EQ(error_of(a.url("/here"), o), "no error");
  fs::remove(dest());
  const std::string e = error_of(a.url("/away"), o);
  EXPECT_NE(e.find("cannot connect to 127.0.0.2"), std::string::npos) << e;
  EXPECT_TRUE(b.seen().empty());  // checked on the redirect, before connecting
  EXPECT_FALSE(fs::exists(dest()));
}

TEST_F(DownloadPolicy, SizeCappedByContentLengthAndByBytes) {
  Recorder a("127.0.0.1");
  ASSERT_GT(a.port, 0);
  a.server.Get("/chunked", [](const httplib::Request&, httplib::Response& res) {
    res.set_chunked_content_provider("application/octet-stream", [](size_t offset, httplib::DataSink& sink) {
      if (offset >= 3000) {
        sink.done();
        return true;
      }
      const std::string chunk(500, 'y');
      return sink.write(chunk.data(), chunk.size());
    });
  });
  DownloadOptions o;
  o.max_bytes = 1000;
  std::string e = error_of(a.url("/file"), o);  // Content-Length 3000
  EXPECT_NE(e.find("larger than the limit of 1000 bytes"), std::string::npos) << e;
  EXPECT_FALSE(fs::exists(dest()));
  e = error_of(a.url("/chunked"), o);  // no Content-Length: counted as it comes
  EXPECT_NE(e.find("larger than the limit of 1000 bytes"), std::string::npos) << e;
  EXPECT_FALSE(fs::exists(dest()));
  std::error_code ec;
  EXPECT_LE(fs::file_size(dest() + ".part", ec), 1500u);
  fs::remove(dest() + ".part", ec);
  o.max_bytes = 3000;  // exactly the size: fine
  EXPECT_EQ(error_of(a.url("/chunked"), o), "no error");
  EXPECT_EQ(fs::file_size(dest()), 3000u);
}

TEST_F(DownloadPolicy, BadContentLengthIsAClearError) {
  Recorder a("127.0.0.1");
  ASSERT_GT(a.port, 0);
  int i = 0;
  for (const std::string len : {"abc", "99999999999999999999999", "-5", "12, 12"}) {
    const std::string path = "/bad" + std::to_string(i++);
    a.server.Get(path, [len](const httplib::Request&, httplib::Response& res) {
      res.set_header("Content-Length", len);
      res.body = "12345";
    });
    const std::string e = error_of(a.url(path));
    EXPECT_NE(e.find("invalid Content-Length"), std::string::npos) << len << ": " << e;
    EXPECT_EQ(e.find("stoull"), std::string::npos) << e;
  }
}

}  // namespace
}  // namespace hearth

#else
TEST(DownloadPolicy, Skipped) { GTEST_SKIP() << "built without cpp-httplib"; }
#endif

// /api/pull of the real server as an attacker or an unlucky client meets it: private destinations refused by
// default (the hub here is on loopback, so it is "private"), sizes capped by Content-Length and by bytes, a bad
// Content-Length as a 4xx, no .part left by a client that disconnects or by an earlier run, and two pulls of one
// URL sharing one download.
#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <thread>
#include <vector>

#include "hearth/store.h"
#include "serve_test_util.h"

namespace hearth {
namespace {

namespace fs = std::filesystem;
using test::json;
using test::parse_ndjson;
using test::post_json;

class ServePull : public ::testing::Test {
 protected:
  void SetUp() override {
    HEARTH_REQUIRE_FIXTURE(test::stories_path());
    body_ = test::read_text(test::stories_path());
    hub_.Get("/files/stories.gguf", [this](const httplib::Request&, httplib::Response& res) {
      ++requests_;
      res.set_content(body_, "application/octet-stream");
    });
    // No Content-Length: only the bytes received tell the size.
    hub_.Get("/files/chunked.gguf", [this](const httplib::Request&, httplib::Response& res) {
      res.set_chunked_content_provider("application/octet-stream", [this](size_t offset, httplib::DataSink& sink) {
        if (offset >= body_.size()) {
          sink.done();
          return true;
        }
        return sink.write(body_.data() + offset, std::min<size_t>(16 << 10, body_.size() - offset));
      });
    });
    hub_.Get("/files/bad-length.gguf", [](const httplib::Request&, httplib::Response& res) {
      res.set_header("Content-Length", "99999999999999999999999");
      res.body = "GGUF";
    });
    // Slowly (about 3 s for the whole file), and nothing until the gate opens: for disconnects and overlaps.
    hub_.Get("/files/slow.gguf", [this](const httplib::Request&, httplib::Response& res) {
      ++requests_;
      res.set_content_provider(body_.size(), "application/octet-stream",
                               [this](size_t offset, size_t, httplib::DataSink& sink) {
                                 for (int i = 0; i < 3000 && !gate_ && !closing_; ++i)
                                   std::this_thread::sleep_for(std::chrono::milliseconds(10));
                                 if (closing_) return false;
                                 std::this_thread::sleep_for(std::chrono::milliseconds(50));
                                 return sink.write(body_.data() + offset, std::min<size_t>(16 << 10, body_.size() - offset));
                               });
    });
    hub_port_ = hub_.bind_to_any_port("127.0.0.1");
    hub_thread_ = std::thread([this] { hub_.listen_after_bind(); });
    while (!hub_.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    dir_ = fs::path(HEARTH_TEST_TMP) / (std::string("serve-pull-") +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override {
    closing_ = true;
    if (hub_thread_.joinable()) {
      hub_.stop();
      hub_thread_.join();
    }
    fs::remove_all(dir_);
  }
  ServerOptions options(bool allow_private) const {
    ServerOptions o = test::stories_options(1, 64);
    o.model_path.clear();
    o.alias.clear();
    o.models_dir = dir_.string();
    o.allow_private_pull = allow_private;
    return o;
  }
  std::string hub_url(const std::string& file) const {
    return "http://127.0.0.1:" + std::to_string(hub_port_) + "/files/" + file;
  }
  // Files of downloads in the store's tmp directory.
  size_t downloads() const {
    size_t n = 0;
    std::error_code ec;
    for (auto it = fs::directory_iterator(dir_ / "tmp", ec); !ec && it != fs::directory_iterator(); it.increment(ec))
      n += it->path().filename().string().rfind("pull-", 0) == 0;
    return n;
  }
  // A pull that is not streamed: its status and error ("" when none).
  static std::pair<int, std::string> pull(httplib::Client& c, const json& body) {
    json b = body;
    b["stream"] = false;
    auto r = post_json(c, "/api/pull", b);
    if (!r) return {-1, "no response"};
    const json j = json::parse(r->body, nullptr, false);
    return {r->status, j.is_object() ? j.value("error", "") : r->body};
  }

  httplib::Server hub_;
  std::thread hub_thread_;
  int hub_port_ = 0;
  std::string body_;
  std::atomic<int> requests_{0};
  std::atomic<bool> gate_{false}, closing_{false};
  fs::path dir_;
};

TEST_F(ServePull, PrivateDestinationsRefusedByDefault) {
  test::RunningServer s(options(false));
  auto c = s.client();
  const std::string port = std::to_string(hub_port_);
  for (const std::string& url : std::vector<std::string>{
           hub_url("stories.gguf"), "http://localhost:" + port + "/files/stories.gguf",
           "http://[::ffff:127.0.0.1]:" + port + "/files/stories.gguf", "http://169.254.0.1:1/x.gguf",
           "http://10.255.255.1:1/x.gguf", "http://[fe80::1]:1/x.gguf"}) {
    const auto [status, error] = pull(c, {{"model", url}, {"destination", "x"}});
    EXPECT_EQ(status, 400) << url;
    EXPECT_NE(error.find("not a public internet address"), std::string::npos) << url << ": " << error;
    EXPECT_NE(error.find("--allow-private-pull"), std::string::npos) << error;
  }
  EXPECT_EQ(requests_.load(), 0);  // nothing connected
  // A listening port and a closed one: the same words (no port scanner).
  const auto open = pull(c, {{"model", hub_url("stories.gguf")}, {"destination", "x"}});
  const auto closed = pull(c, {{"model", "http://127.0.0.1:1/files/stories.gguf"}, {"destination", "x"}});
  EXPECT_EQ(open.first, closed.first);
  EXPECT_EQ(open.second.substr(open.second.find(" failed: ")), closed.second.substr(closed.second.find(" failed: ")));
  // Streamed: the same error as the last line.
  auto r = post_json(c, "/api/pull", {{"model", hub_url("stories.gguf")}});
  ASSERT_TRUE(r);
  const auto lines = parse_ndjson(r->body);
  ASSERT_FALSE(lines.empty());
  EXPECT_NE(lines.back().value("error", "").find("not a public internet address"), std::string::npos) << r->body;
  EXPECT_TRUE(ModelStore(dir_.string()).list().empty());
  EXPECT_EQ(downloads(), 0u);
}

TEST_F(ServePull, PrivateDestinationsAllowedWhenTheServerSaysSo) {
  test::RunningServer s(options(true));
  auto c = s.client();
  EXPECT_EQ(pull(c, {{"model", hub_url("stories.gguf")}, {"destination", "x"}}), std::make_pair(200, std::string()));
  EXPECT_TRUE(ModelStore(dir_.string()).find("x").has_value());
}

TEST_F(ServePull, SizeCappedByContentLengthAndByBytes) {
  ServerOptions o = options(true);
  o.max_pull_bytes = body_.size() - 1;
  test::RunningServer s(o);
  auto c = s.client();
  for (const char* file : {"stories.gguf", "chunked.gguf"}) {
    const auto [status, error] = pull(c, {{"model", hub_url(file)}, {"destination", "x"}});
    EXPECT_EQ(status, 400) << file;
    EXPECT_NE(error.find("larger than the limit of " + std::to_string(body_.size() - 1) + " bytes (--max-pull-size)"),
              std::string::npos)
        << file << ": " << error;
    EXPECT_EQ(downloads(), 0u) << file;
  }
  EXPECT_TRUE(ModelStore(dir_.string()).list().empty());
}

TEST_F(ServePull, DefaultSizeCapLetsModelsThrough) {
  ServerOptions o = options(true);
  EXPECT_GE(o.max_pull_bytes, uint64_t{32} << 30);  // a sane default: room for big models, not unlimited
  EXPECT_GT(o.max_pull_bytes, 0u);
  o.max_pull_bytes = body_.size();  // exactly the size
  test::RunningServer s(o);
  auto c = s.client();
  EXPECT_EQ(pull(c, {{"model", hub_url("chunked.gguf")}, {"destination", "x"}}).first, 200);
}

TEST_F(ServePull, BadContentLengthIsAClientError) {
  test::RunningServer s(options(true));
  auto c = s.client();
  const auto [status, error] = pull(c, {{"model", hub_url("bad-length.gguf")}, {"destination", "x"}});
  EXPECT_EQ(status, 400) << error;
  EXPECT_NE(error.find("invalid Content-Length"), std::string::npos) << error;
  EXPECT_EQ(error.find("stoull"), std::string::npos) << error;
}

TEST_F(ServePull, ClientThatDisconnectsLeavesNoPartFile) {
  test::RunningServer s(options(true));
  auto c = s.client();
  gate_ = true;
  httplib::Request req;
  req.method = "POST";
  req.path = "/api/pull";
  req.body = json({{"model", hub_url("slow.gguf")}, {"destination", "x"}}).dump();
  req.set_header("Content-Type", "application/json");
  bool saw_progress = false;
  req.content_receiver = [&](const char* data, size_t n, uint64_t, uint64_t) {
    // Gone as soon as bytes are coming in.
    saw_progress = saw_progress || std::string(data, n).find("\"completed\"") != std::string::npos;
    return !saw_progress;
  };
  c.send(req);
  EXPECT_TRUE(saw_progress);
  for (int i = 0; i < 300 && downloads() > 0; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_EQ(downloads(), 0u);
  EXPECT_TRUE(ModelStore(dir_.string()).list().empty());
}

TEST_F(ServePull, DownloadsLeftByAnEarlierRunAreCollectedAtStart) {
  fs::create_directories(dir_ / "tmp");
  std::ofstream(dir_ / "tmp" / "pull-0123456789abcdef01234567.part") << "half a model";
  std::ofstream(dir_ / "tmp" / "pull-76543210fedcba9876543210") << "a whole one, never checked";
  ASSERT_EQ(downloads(), 2u);
  test::RunningServer s(options(true));
  EXPECT_EQ(downloads(), 0u);
  // Served: a Server stopped before its thread listens would never stop (a race of Server::start and stop).
  auto c = s.client();
  auto r = c.Get("/health");
  EXPECT_TRUE(r && r->status == 200);
}

TEST_F(ServePull, TwoPullsOfOneUrlShareOneDownload) {
  test::RunningServer s(options(true));
  std::pair<int, std::string> first;
  std::thread t1([&] {
    auto c = s.client();
    first = pull(c, {{"model", hub_url("slow.gguf")}, {"destination", "one"}});
  });
  for (int i = 0; i < 3000 && requests_ == 0; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  ASSERT_EQ(requests_.load(), 1);
  // The second, streamed, so that the test sees it wait for the first before the hub sends anything.
  std::atomic<bool> waiting{false};
  std::string second;
  std::thread t2([&] {
    auto c = s.client();
    httplib::Request req;
    req.method = "POST";
    req.path = "/api/pull";
    req.body = json({{"model", hub_url("slow.gguf")}, {"destination", "two"}}).dump();
    req.set_header("Content-Type", "application/json");
    req.content_receiver = [&](const char* data, size_t n, uint64_t, uint64_t) {
      second.append(data, n);
      if (second.find("waiting for another pull") != std::string::npos) waiting = true;
      return true;
    };
    c.send(req);
  });
  for (int i = 0; i < 1000 && !waiting; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  gate_ = true;
  t1.join();
  t2.join();
  EXPECT_TRUE(waiting) << second;
  EXPECT_EQ(first, std::make_pair(200, std::string()));
  const auto lines = parse_ndjson(second);
  ASSERT_FALSE(lines.empty());
  EXPECT_EQ(lines.back(), json({{"status", "success"}})) << second;
  EXPECT_EQ(requests_.load(), 1);  // one download for both
  ModelStore store(dir_.string());
  ASSERT_TRUE(store.find("one").has_value());
  ASSERT_TRUE(store.find("two").has_value());
  EXPECT_EQ(store.get("one").digest, store.get("two").digest);
  EXPECT_EQ(downloads(), 0u);
}

}  // namespace
}  // namespace hearth

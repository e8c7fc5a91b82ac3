// `pull` into the model store against a local HTTP server in this process: a whole download, resume of an
// interrupted one with a Range request, size and sha256 checks, HTTP errors; nothing is registered on failure.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/file.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

#include "hearth/error.h"
#include "hearth/store.h"
#include "store/sha256.h"
#include "test_util.h"

#ifdef HEARTH_HAVE_HTTP
#include <httplib.h>

namespace hearth {
namespace {

namespace fs = std::filesystem;

class StorePull : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string path = test::fixture("stories260K/stories260K.gguf");
    if (!fs::exists(path)) GTEST_SKIP() << "fixture not found: " << path;
    body_ = test::read_text(path);
    // The reference digest, from `sha256sum` (independent of hearth's helper).
    auto r = test::run_command("sha256sum '" + path + "'");
    ASSERT_EQ(r.status, 0);
    digest_ = r.out.substr(0, 64);
    server_.Get("/models/stories.gguf", [this](const httplib::Request& req, httplib::Response& res) {
      if (req.has_header("Range")) {
        ++range_requests_;
        res.set_content(body_, "application/octet-stream");  // httplib answers the range (206)
        return;
      }
      if (cut_next_ > 0) {
        // Half the file, then the connection drops: an interrupted download.
        const size_t cut = cut_next_.exchange(0);
        res.set_content_provider(body_.size(), "application/octet-stream",
                                 [this, cut](size_t offset, size_t, httplib::DataSink& sink) {
                                   if (offset >= cut) return false;
                                   sink.write(body_.data() + offset, cut - offset);
                                   return true;
                                 });
        return;
      }
      res.set_content(body_, "application/octet-stream");
    });
    server_.Get("/org/repo/resolve/main/sub/stories.gguf", [this](const httplib::Request&, httplib::Response& res) {
      res.set_content(body_, "application/octet-stream");
    });
    // Sends nothing until the test opens the gate (pulls that overlap for sure); counts its requests.
    server_.Get("/models/gated.gguf", [this](const httplib::Request&, httplib::Response& res) {
      ++gated_requests_;
      res.set_content_provider(body_.size(), "application/octet-stream",
                               [this](size_t offset, size_t, httplib::DataSink& sink) {
                                 for (int i = 0; i < 3000 && !gate_; ++i)
                                   std::this_thread::sleep_for(std::chrono::milliseconds(10));
                                 const size_t n = std::min<size_t>(64 << 10, body_.size() - offset);
                                 return sink.write(body_.data() + offset, n);
                               });
    });
    server_.Get("/models/garbage.gguf", [](const httplib::Request&, httplib::Response& res) {
      res.set_content(std::string(5000, 'x'), "application/octet-stream");
    });
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    while (!server_.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    dir_ = fs::path(HEARTH_TEST_TMP) / (std::string("store-pull-") +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
  }
  void TearDown() override {
    if (thread_.joinable()) {
      server_.stop();
      thread_.join();
    }
    fs::remove_all(dir_);
  }
  std::string url(const std::string& file) const {
    return "http://127.0.0.1:" + std::to_string(port_) + "/models/" + file;
  }
  // Files in DIR/tmp (partial downloads) and whether anything is registered.
  size_t tmp_files() const {
    std::error_code ec;
    size_t n = 0;
    for (auto it = fs::directory_iterator(dir_ / "tmp", ec); !ec && it != fs::directory_iterator(); it.increment(ec)) ++n;
    return n;
  }
  std::string error_of(const std::function<void()>& f) {
    try {
      f();
    } catch (const Error& e) {
      return e.what();
    }
    return "no error";
  }

  httplib::Server server_;
  std::thread thread_;
  int port_ = 0;
  std::string body_, digest_;
  std::atomic<int> range_requests_{0};
  std::atomic<size_t> cut_next_{0};
  std::atomic<int> gated_requests_{0};
  std::atomic<bool> gate_{false};
  fs::path dir_;
};

TEST_F(StorePull, DownloadsChecksAndRegisters) {
  ModelStore store(dir_.string());
  PullOptions o;
  o.sha256 = digest_;
  o.size = body_.size();
  uint64_t last_done = 0, last_total = 0;
  bool downloading = false, verifying = false;
  StoreModel m = store.pull(url("stories.gguf"), o, [&](const std::string& status, uint64_t done, uint64_t total) {
    if (status == "downloading") downloading = true, last_done = done, last_total = total;
    if (status.find("verifying") != std::string::npos) verifying = true;
  });
  EXPECT_TRUE(downloading && verifying);
  EXPECT_EQ(last_done, body_.size());
  EXPECT_EQ(last_total, body_.size());
  EXPECT_EQ(m.name, "stories:latest");  // from the file name
  EXPECT_EQ(m.digest, "sha256:" + digest_);
  EXPECT_EQ(m.from, url("stories.gguf"));
  EXPECT_EQ(test::read_text(m.path), body_);
  EXPECT_EQ(tmp_files(), 0u);
  EXPECT_EQ(range_requests_.load(), 0);
  // Named, and with the digest given as "sha256:HEX" in capitals.
  o.name = "team/tiny:q";
  o.sha256 = "sha256:" + digest_;
  for (char& c : o.sha256) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  o.sha256.replace(0, 7, "sha256:");
  EXPECT_EQ(store.pull(url("stories.gguf"), o).name, "team/tiny:q");
  EXPECT_EQ(store.list().size(), 2u);
}

TEST_F(StorePull, ResumesAnInterruptedDownload) {
  ModelStore store(dir_.string());
  cut_next_ = 400000;
  const std::string e = error_of([&] { store.pull(url("stories.gguf"), {}); });
  EXPECT_NE(e.find("failed"), std::string::npos) << e;  // the connection dropped mid-body
  EXPECT_TRUE(store.list().empty());  // nothing registered
  EXPECT_EQ(tmp_files(), 1u);         // the .part stays for the next pull
  PullOptions o;
  o.sha256 = digest_;
  StoreModel m = store.pull(url("stories.gguf"), o);
  EXPECT_EQ(range_requests_.load(), 1);
  EXPECT_EQ(test::read_text(m.path), body_);
  EXPECT_EQ(tmp_files(), 0u);
}

TEST_F(StorePull, Sha256MismatchRegistersNothing) {
  ModelStore store(dir_.string());
  PullOptions o;
  o.name = "stories";
  o.sha256 = std::string(64, '0');
  const std::string e = error_of([&] { store.pull(url("stories.gguf"), o); });
  EXPECT_NE(e.find("sha256"), std::string::npos) << e;
  EXPECT_NE(e.find(digest_), std::string::npos) << e;
  EXPECT_TRUE(store.list().empty());
  EXPECT_EQ(tmp_files(), 0u);
  std::error_code ec;
  EXPECT_TRUE(fs::is_empty(dir_ / "blobs", ec) || !fs::exists(dir_ / "blobs"));
  o.sha256 = "not-hex";
  EXPECT_NE(error_of([&] { store.pull(url("stories.gguf"), o); }).find("64 hex digits"), std::string::npos);
}

TEST_F(StorePull, SizeMismatchRegistersNothing) {
  ModelStore store(dir_.string());
  PullOptions o;
  o.size = body_.size() + 1;
  const std::string e = error_of([&] { store.pull(url("stories.gguf"), o); });
  EXPECT_NE(e.find("expected " + std::to_string(body_.size() + 1)), std::string::npos) << e;
  EXPECT_TRUE(store.list().empty());
  EXPECT_EQ(tmp_files(), 0u);
}

TEST_F(StorePull, HttpErrorsAndNonModels) {
  ModelStore store(dir_.string());
  std::string e = error_of([&] { store.pull(url("absent.gguf"), {}); });
  EXPECT_NE(e.find("HTTP 404"), std::string::npos) << e;
  e = error_of([&] { store.pull(url("garbage.gguf"), {}); });
  EXPECT_NE(e.find("not a readable GGUF"), std::string::npos) << e;
  e = error_of([&] { store.pull("/local/file.gguf", {}); });
  EXPECT_NE(e.find("not a remote source"), std::string::npos) << e;
  PullOptions bad;
  bad.name = "../escape";
  EXPECT_NE(error_of([&] { store.pull(url("stories.gguf"), bad); }).find("invalid model name"), std::string::npos);
  EXPECT_TRUE(store.list().empty());
  EXPECT_EQ(tmp_files(), 0u);
  // A server that is gone.
  server_.stop();
  thread_.join();
  e = error_of([&] { store.pull(url("stories.gguf"), {}); });
  EXPECT_NE(e.find("failed"), std::string::npos) << e;
  EXPECT_TRUE(store.list().empty());
}

TEST_F(StorePull, ConcurrentPullsShareOneDownload) {
  ModelStore store(dir_.string());
  std::string e1 = "no error", e2 = "no error";
  std::thread first([&] {
    PullOptions o;
    o.name = "one";
    e1 = error_of([&] { store.pull(url("gated.gguf"), o); });
  });
  for (int i = 0; i < 3000 && gated_requests_ == 0; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  ASSERT_EQ(gated_requests_.load(), 1);
  std::atomic<bool> waiting{false};
  std::thread second([&] {
    PullOptions o;
    o.name = "two";
    o.sha256 = digest_;
    e2 = error_of([&] {
      store.pull(url("gated.gguf"), o, [&](const std::string& status, uint64_t, uint64_t) {
        if (status.find("waiting") != std::string::npos) waiting = true;
      });
    });
  });
  for (int i = 0; i < 1000 && !waiting; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  gate_ = true;
  first.join();
  second.join();
  EXPECT_TRUE(waiting);
  EXPECT_EQ(e1, "no error");
  EXPECT_EQ(e2, "no error");
  EXPECT_EQ(gated_requests_.load(), 1);  // one download for both
  ASSERT_TRUE(store.find("one").has_value());
  ASSERT_TRUE(store.find("two").has_value());
  EXPECT_EQ(store.get("one").digest, "sha256:" + digest_);
  EXPECT_EQ(store.get("two").digest, "sha256:" + digest_);
  EXPECT_EQ(tmp_files(), 0u);
}

TEST_F(StorePull, StoppedPullKeepsItsPartOnlyWhenAsked) {
  ModelStore store(dir_.string());
  auto stop_after_some = [](const std::string& status, uint64_t done, uint64_t) {
    if (status == "downloading" && done > 0) throw Error("stopped by the test");
  };
  PullOptions o;
  EXPECT_EQ(error_of([&] { store.pull(url("stories.gguf"), o, stop_after_some); }), "stopped by the test");
  EXPECT_EQ(tmp_files(), 1u);  // the CLI's pulls resume
  o.keep_partial = false;
  EXPECT_EQ(error_of([&] { store.pull(url("stories.gguf"), o, stop_after_some); }), "stopped by the test");
  EXPECT_EQ(tmp_files(), 0u);  // the server's do not: nothing is left behind
  EXPECT_TRUE(store.list().empty());
}

TEST_F(StorePull, CollectsDownloadsNoPullIsWriting) {
  ModelStore store(dir_.string());
  fs::create_directories(dir_ / "tmp");
  for (const char* f : {"pull-aaa.part", "pull-bbb", "pull-bbb.part", "pull-ccc.part", "notes.txt"})
    std::ofstream(dir_ / "tmp" / f) << "x";
  // pull-ccc is being written: its lock is held (as a pull in another process holds it).
  const std::string lock_path = (dir_ / "tmp" / "pull-ccc.lock").string();
  const int fd = ::open(lock_path.c_str(), O_RDWR | O_CREAT, 0644);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::flock(fd, LOCK_EX), 0);
  EXPECT_EQ(store.collect_partial_downloads(), 3u);
  EXPECT_FALSE(fs::exists(dir_ / "tmp" / "pull-aaa.part"));
  EXPECT_FALSE(fs::exists(dir_ / "tmp" / "pull-bbb"));
  EXPECT_TRUE(fs::exists(dir_ / "tmp" / "pull-ccc.part"));
  EXPECT_TRUE(fs::exists(dir_ / "tmp" / "notes.txt"));
  ::close(fd);
  EXPECT_EQ(store.collect_partial_downloads(), 1u);  // the .part; its lock file goes too
  EXPECT_FALSE(fs::exists(dir_ / "tmp" / "pull-ccc.part"));
  EXPECT_FALSE(fs::exists(lock_path));
}

TEST_F(StorePull, HfSourcesAndTheCli) {
  setenv("HEARTH_HF_ENDPOINT", ("http://127.0.0.1:" + std::to_string(port_)).c_str(), 1);
  // hf:ORG/REPO/FILE resolves to ENDPOINT/ORG/REPO/resolve/main/FILE.
  ModelStore store(dir_.string());
  StoreModel m = store.pull("hf:org/repo/sub/stories.gguf", {});
  EXPECT_EQ(m.name, "stories:latest");
  EXPECT_EQ(m.digest, "sha256:" + digest_);
  const std::string e = error_of([&] { store.pull("hf:org/repo/absent.gguf", {}); });
  EXPECT_NE(e.find("HTTP 404"), std::string::npos) << e;
  unsetenv("HEARTH_HF_ENDPOINT");
  auto r = test::run_command(std::string(HEARTH_BINARY) + " pull " + url("stories.gguf") + " --name cli:v1 --sha256 " +
                             digest_ + " --size " + std::to_string(body_.size()) + " --models '" + dir_.string() +
                             "' 2>/dev/null");
  EXPECT_EQ(r.status, 0);
  EXPECT_NE(r.out.find("cli:v1"), std::string::npos) << r.out;
  ASSERT_TRUE(store.find("cli:v1").has_value());
  r = test::run_command(std::string(HEARTH_BINARY) + " pull " + url("stories.gguf") + " --name bad --sha256 " +
                        std::string(64, 'a') + " --models '" + dir_.string() + "' 2>&1");
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.out.find("expected"), std::string::npos) << r.out;
  EXPECT_FALSE(store.find("bad").has_value());
}

}  // namespace
}  // namespace hearth

#else
TEST(StorePull, Skipped) { GTEST_SKIP() << "built without cpp-httplib"; }
#endif

// hf: and URL sources against a local HTTP server: download, resume, redirects, errors.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <thread>

#include "hearth/download.h"
#include "hearth/error.h"
#include "test_util.h"

#ifdef HEARTH_HAVE_HTTP
#include <httplib.h>

namespace hearth {
namespace {

namespace fs = std::filesystem;

class LocalHub : public ::testing::Test {
 protected:
  void SetUp() override {
    std::mt19937 rng(7);
    body_.resize(300000);
    for (char& c : body_) c = static_cast<char>(rng());
    server_.Get("/org/repo/resolve/main/model.gguf", [this](const httplib::Request& req, httplib::Response& res) {
      if (req.has_header("Range")) ++range_requests_;
      res.set_content(body_, "application/octet-stream");
    });
    server_.Get("/org/repo/resolve/main/moved.gguf", [](const httplib::Request&, httplib::Response& res) {
      res.set_redirect("/org/repo/resolve/main/model.gguf");
    });
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    while (!server_.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    dir_ = fs::path(HEARTH_TEST_TMP) / (std::string("download-") +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    setenv("HEARTH_HF_ENDPOINT", ("http://127.0.0.1:" + std::to_string(port_)).c_str(), 1);
  }
  void TearDown() override {
    server_.stop();
    thread_.join();
    unsetenv("HEARTH_HF_ENDPOINT");
  }
  std::string read(const fs::path& p) { return test::read_text(p.string()); }

  httplib::Server server_;
  std::thread thread_;
  int port_ = 0;
  std::string body_;
  std::atomic<int> range_requests_{0};
  fs::path dir_;
};

TEST_F(LocalHub, HfSourceDownloadsIntoCache) {
  uint64_t last = 0;
  std::string path = resolve_model_source("hf:org/repo/model.gguf", dir_.string(),
                                          [&](const DownloadProgress& p) { last = p.done; });
  EXPECT_EQ(path, (dir_ / "hf/org/repo/model.gguf").string());
  EXPECT_EQ(read(path), body_);
  EXPECT_EQ(last, body_.size());
  EXPECT_FALSE(fs::exists(path + ".part"));
  // Second time: from the cache, no request.
  EXPECT_EQ(resolve_model_source("hf:org/repo/model.gguf", dir_.string(), nullptr), path);
}

TEST_F(LocalHub, ResumesFromPartialFile) {
  std::string dest = (dir_ / "hf/org/repo/model.gguf").string();
  fs::create_directories(fs::path(dest).parent_path());
  {
    std::ofstream part(dest + ".part", std::ios::binary);
    part.write(body_.data(), 123457);
  }
  resolve_model_source("hf:org/repo/model.gguf", dir_.string(), nullptr);
  EXPECT_EQ(range_requests_.load(), 1);
  EXPECT_EQ(read(dest), body_);
}

TEST_F(LocalHub, FollowsRedirects) {
  std::string path = resolve_model_source("hf:org/repo/moved.gguf", dir_.string(), nullptr);
  EXPECT_EQ(read(path), body_);
}

TEST_F(LocalHub, MissingFileIsAClearError) {
  try {
    resolve_model_source("hf:org/repo/absent.gguf", dir_.string(), nullptr);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("HTTP 404"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(fs::exists(dir_ / "hf/org/repo/absent.gguf"));
}

TEST_F(LocalHub, CliPullAndRunAcceptHfSources) {
  std::string cmd = "HEARTH_CACHE=" + dir_.string() + " " + HEARTH_BINARY +
                    " pull --cache-only hf:org/repo/model.gguf 2>/dev/null";
  auto r = test::run_command(cmd);
  EXPECT_EQ(r.status, 0);
  EXPECT_EQ(r.out, (dir_ / "hf/org/repo/model.gguf").string() + "\n");
}

TEST(HfSource, RejectsMalformedSources) {
  EXPECT_THROW(hf_url("hf:org"), Error);
  EXPECT_THROW(hf_url("hf:org/repo"), Error);
  EXPECT_THROW(hf_url("hf:org/repo/../../etc/passwd"), Error);
  unsetenv("HEARTH_HF_ENDPOINT");
  EXPECT_EQ(hf_url("hf:ggml-org/models/tinyllamas/stories260K.gguf"),
            "https://huggingface.co/ggml-org/models/resolve/main/tinyllamas/stories260K.gguf");
}

}  // namespace
}  // namespace hearth

#else
TEST(Download, Skipped) { GTEST_SKIP() << "built without cpp-httplib"; }
#endif

// hearth serve's model log (ServerOptions::log): a line when a model starts loading, when it has loaded (how
// long it took, its type, the memory it needs, where it runs) and when it is unloaded (why, after how long,
// and the memory freed), for -m, store models, keep-alive expiry, unload requests and shutdown.
#include <gtest/gtest.h>

#ifdef HEARTH_HAVE_HTTP
#include <mutex>
#include <regex>
#include <thread>

#include "serve_test_util.h"

namespace hearth::test {
namespace {

namespace fs = std::filesystem;

struct Lines {
  std::mutex mu;
  std::vector<std::string> lines;
  std::function<void(const std::string&)> sink() {
    return [this](const std::string& l) {
      std::lock_guard<std::mutex> lock(mu);
      lines.push_back(l);
    };
  }
  std::vector<std::string> matching(const std::string& re) {
    std::lock_guard<std::mutex> lock(mu);
    std::vector<std::string> out;
    for (const std::string& l : lines)
      if (std::regex_search(l, std::regex(re))) out.push_back(l);
    return out;
  }
  std::string all() {
    std::lock_guard<std::mutex> lock(mu);
    std::string s;
    for (const std::string& l : lines) s += l + "\n";
    return s;
  }
};

TEST(ServeModelLog, LoadsAndUnloadsWithSizesAndTimes) {
  HEARTH_REQUIRE_FIXTURE(stories_path());
  const fs::path dir = fs::path(HEARTH_TEST_TMP) / "serve-model-log";
  fs::remove_all(dir);
  fs::create_directories(dir);
  fs::copy_file(stories_path(), dir / "tiny.gguf");
  Lines log;
  ServerOptions o = stories_options(2, 128);
  o.models_dir = dir.string();
  o.max_loaded = 2;  // tiny loads beside stories
  o.log = log.sink();
  {
    RunningServer s(o);  // -m stories: loaded at start
    const std::string loading = R"(^loading stories from .*stories260K\.gguf \(\d+\.\d MiB file; context 128 x 2 )"
                                R"(sequences\)$)";
    EXPECT_EQ(log.matching(loading).size(), 1u) << log.all();
    const std::string loaded = R"(^loaded stories in \d+ ms \(llama F32; weights \d+\.\d MiB, KV cache \d+\.\d MiB, )"
                               R"(compute \d+\.\d MiB, context 128 x 2 sequences; .*CPU)";
    EXPECT_EQ(log.matching(loaded).size(), 1u) << log.all();
    auto c = s.client();
    // A store model: loaded on first use, then unloaded on request (Ollama's keep_alive 0).
    auto r = post_json(c, "/api/generate", {{"model", "tiny"}, {"prompt", "Hi"}, {"stream", false},
                                            {"options", {{"num_predict", 1}}}});
    ASSERT_TRUE(r && r->status == 200) << (r ? r->body : "no answer");
    EXPECT_EQ(log.matching(R"(^loaded tiny in \d+ ms)").size(), 1u) << log.all();
    r = post_json(c, "/api/generate", {{"model", "tiny"}, {"keep_alive", 0}});
    ASSERT_TRUE(r && r->status == 200) << (r ? r->body : "no answer");
    for (int i = 0; i < 200 && log.matching("^unloaded tiny").empty(); ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    const std::string unloaded = R"(^unloaded tiny after \d+\.\d s \(unload requested \(keep_alive 0\)\): )"
                                 R"(weights \d+\.\d MiB, KV cache \d+\.\d MiB freed in \d+ ms$)";
    EXPECT_EQ(log.matching(unloaded).size(), 1u) << log.all();
  }
  // Shutdown unloads the rest.
  EXPECT_EQ(log.matching(R"(^unloaded stories after \d+\.\d s \(the server is stopping\))").size(), 1u) << log.all();
  fs::remove_all(dir);
}

TEST(ServeModelLog, KeepAliveExpiryIsLogged) {
  HEARTH_REQUIRE_FIXTURE(stories_path());
  Lines log;
  ServerOptions o = stories_options(1, 128);
  o.keep_alive = "200ms";
  o.log = log.sink();
  RunningServer s(o);
  for (int i = 0; i < 300 && log.matching("^unloaded stories").empty(); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  EXPECT_EQ(log.matching(R"(^unloaded stories after \d+\.\d s \(idle for its keep-alive of 200 ms\))").size(), 1u)
      << log.all();
}

}  // namespace
}  // namespace hearth::test
#endif

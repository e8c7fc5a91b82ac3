// hearth serve --models DIR: every *.gguf there is offered by its file stem and loads on first use;
// names Ollama clients send (":latest") resolve; a server stopped while streams are open ends them.
#include <gtest/gtest.h>

#ifdef HEARTH_HAVE_HTTP
#include <thread>

#include "serve_test_util.h"

namespace hearth::test {
namespace {

namespace fs = std::filesystem;

// A directory holding the fixture under two names (symlinks), and a file that is not a model.
std::string make_models_dir() {
  const fs::path dir = fs::path(HEARTH_TEST_TMP) / "serve_models";
  fs::remove_all(dir);
  fs::create_directories(dir);
  fs::create_symlink(stories_path(), dir / "tiny.gguf");
  fs::create_symlink(stories_path(), dir / "other.gguf");
  std::ofstream(dir / "notes.txt") << "not a model";
  return dir.string();
}

TEST(ServeModels, DirectoryModelsLoadOnFirstUse) {
  HEARTH_REQUIRE_FIXTURE(stories_path());
  ServerOptions o = stories_options(2, 128);
  o.model_path.clear();
  o.alias.clear();
  o.models_dir = make_models_dir();
  RunningServer srv(o);
  auto c = srv.client();
  auto models = json::parse(c.Get("/v1/models")->body);
  ASSERT_EQ(models["data"].size(), 2u);
  EXPECT_EQ(models["data"][0]["id"], "other");
  EXPECT_EQ(models["data"][1]["id"], "tiny");
  EXPECT_TRUE(json::parse(c.Get("/api/ps")->body)["models"].empty());  // nothing loaded yet

  auto model = load_stories_model();
  const std::string want = greedy_text(*model, "Once upon a time", 20, 128);
  for (const char* name : {"tiny", "tiny:latest", "other", "tiny"}) {  // switching loads the other file
    auto r = post_json(c, "/v1/completions",
                       {{"model", name}, {"prompt", "Once upon a time"}, {"max_tokens", 20}, {"temperature", 0}});
    ASSERT_TRUE(r);
    ASSERT_EQ(r->status, 200) << r->body;
    EXPECT_EQ(json::parse(r->body)["choices"][0]["text"], want) << name;
  }
  auto ps = json::parse(c.Get("/api/ps")->body);
  ASSERT_EQ(ps["models"].size(), 1u);
  EXPECT_EQ(ps["models"][0]["name"], "tiny");
  auto gen = post_json(c, "/api/generate", {{"model", "other"}, {"prompt", "hi"}, {"stream", false},
                                           {"options", {{"num_predict", 3}}}});
  ASSERT_EQ(gen->status, 200) << gen->body;
  EXPECT_GT(json::parse(gen->body)["load_duration"].get<int64_t>(), 0);  // loaded by this request
  auto missing = post_json(c, "/v1/completions", {{"model", "notes"}, {"prompt", "a"}});
  EXPECT_EQ(missing->status, 404) << missing->body;
}

TEST(ServeModels, StoppingTheServerEndsOpenStreams) {
  HEARTH_REQUIRE_FIXTURE(stories_path());
  auto srv = std::make_unique<RunningServer>(stories_options(2, 4096));
  std::vector<std::thread> clients;
  std::atomic<int> started{0}, ended{0};
  for (int i = 0; i < 3; ++i)
    clients.emplace_back([&, port = srv->port] {
      httplib::Client c("127.0.0.1", port);
      httplib::Request req;
      req.method = "POST";
      req.path = "/api/generate";
      req.body = json{{"model", "stories"}, {"prompt", "Once"}, {"raw", true}, {"options", {{"num_predict", -1}}}}.dump();
      req.content_receiver = [&, first = true](const char*, size_t, uint64_t, uint64_t) mutable {
        if (first) started++, first = false;
        return true;
      };
      c.send(req);
      ended++;
    });
  for (int i = 0; i < 400 && started < 2; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  const auto t0 = std::chrono::steady_clock::now();
  srv.reset();  // stops, cancels the streams, waits for them
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(20));
  for (auto& t : clients) t.join();
  EXPECT_EQ(ended, 3);
}

}  // namespace
}  // namespace hearth::test
#else
TEST(ServeModels, NeedsHttp) { GTEST_SKIP() << "built without cpp-httplib"; }
#endif

// The loaded-model lifecycle over HTTP: keep-alive (per request, default, 0, forever), expiry by the reaper,
// --max-loaded eviction, Ollama's load/unload requests, /api/ps, the memory-fit refusal, and `hearth ps` /
// `hearth stop` against a running server. Waits poll with a deadline; no sleep is an assertion.
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <thread>

#include "hearth/error.h"
#include "serve/api_error.h"
#include "serve/model_registry.h"
#include "serve_test_util.h"

namespace hearth {
namespace {

using namespace test;
namespace fs = std::filesystem;

json ps(httplib::Client& c) {
  auto r = c.Get("/api/ps");
  if (!r || r->status != 200) return json::array();
  return json::parse(r->body)["models"];
}

std::vector<std::string> loaded_names(httplib::Client& c) {
  std::vector<std::string> out;
  for (const json& m : ps(c)) out.push_back(m["name"]);
  return out;
}

// Polls until pred holds or the deadline passes; returns whether it held.
bool eventually(const std::function<bool()>& pred, std::chrono::seconds deadline = std::chrono::seconds(20)) {
  const auto end = std::chrono::steady_clock::now() + deadline;
  while (std::chrono::steady_clock::now() < end) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return pred();
}

json generate(httplib::Client& c, const std::string& model, const json& extra = json::object()) {
  json body = {{"model", model}, {"prompt", "Once upon a time"}, {"stream", false}, {"options", {{"num_predict", 3}}}};
  body.update(extra);
  auto r = post_json(c, "/api/generate", body);
  if (!r) return {{"error", "no response"}};
  json j = json::parse(r->body);
  j["http_status"] = r->status;
  return j;
}

// A --models directory with the stories model under several names (symlinks).
std::string models_dir(const std::string& name, const std::vector<std::string>& models) {
  const fs::path dir = fs::path(HEARTH_TEST_TMP) / name;
  fs::remove_all(dir);
  fs::create_directories(dir);
  for (const std::string& m : models) fs::create_symlink(stories_path(), dir / (m + ".gguf"));
  return dir.string();
}

ServerOptions dir_options(const std::string& dir) {
  ServerOptions o = stories_options(2, 256);
  o.model_path.clear();
  o.alias.clear();
  o.models_dir = dir;
  return o;
}

TEST(ServeLifecycle, KeepAliveZeroUnloadsAfterTheRequest) {
  HEARTH_REQUIRE_FIXTURE(stories_path());
  RunningServer s(stories_options());
  auto c = s.client();
  ASSERT_EQ(loaded_names(c), std::vector<std::string>{"stories"});  // -m: loaded at start
  const json first = ps(c)[0];
  EXPECT_GT(first["size"].get<uint64_t>(), 0u);
  EXPECT_EQ(first["size_vram"], 0);
  EXPECT_EQ(first["processor"], "100% CPU");
  EXPECT_EQ(first["context_length"], 256);
  EXPECT_TRUE(first["expires_at"].is_string());
  EXPECT_TRUE(first["details"].is_object());

  json g = generate(c, "stories", {{"keep_alive", 0}});
  ASSERT_EQ(g["http_status"], 200) << g.dump();
  EXPECT_GT(g["eval_count"].get<int>(), 0);
  EXPECT_TRUE(eventually([&] { return ps(c).empty(); })) << ps(c).dump();
  // The next request loads it again.
  g = generate(c, "stories");
  ASSERT_EQ(g["http_status"], 200) << g.dump();
  EXPECT_GT(g["load_duration"].get<int64_t>(), 0);
  EXPECT_EQ(loaded_names(c), std::vector<std::string>{"stories"});
}

TEST(ServeLifecycle, ShortKeepAliveExpires) {
  HEARTH_REQUIRE_FIXTURE(stories_path());
  ServerOptions o = stories_options();
  o.keep_alive = "1s";
  RunningServer s(o);
  auto c = s.client();
  // A request with its own keep_alive: it stays past the server's default...
  ASSERT_EQ(generate(c, "stories", {{"keep_alive", "1h"}})["http_status"], 200);
  const json entry = ps(c)[0];
  const std::string expires = entry["expires_at"];
  EXPECT_GT(expires.substr(0, 4), "2000");
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));  // past the 1 s default
  EXPECT_EQ(loaded_names(c), std::vector<std::string>{"stories"});
  // ...and a request without one falls back to the default of 1 s, after which the reaper unloads it.
  ASSERT_EQ(generate(c, "stories")["http_status"], 200);
  EXPECT_TRUE(eventually([&] { return ps(c).empty(); })) << ps(c).dump();
}

TEST(ServeLifecycle, ForeverAndOpenAIKeepAlive) {
  HEARTH_REQUIRE_FIXTURE(stories_path());
  ServerOptions o = stories_options();
  o.keep_alive = "1s";
  RunningServer s(o);
  auto c = s.client();
  auto r = post_json(c, "/v1/completions",
                     {{"model", "stories"}, {"prompt", "Once"}, {"max_tokens", 2}, {"keep_alive", -1}});
  ASSERT_TRUE(r && r->status == 200) << (r ? r->body : "");
  EXPECT_EQ(ps(c)[0]["expires_at"].get<std::string>().substr(0, 4), "2318");
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  EXPECT_EQ(loaded_names(c), std::vector<std::string>{"stories"});
  // keep_alive 0 in the OpenAI API too.
  r = post_json(c, "/v1/chat/completions",
                {{"model", "stories"}, {"messages", {{{"role", "user"}, {"content", "hi"}}}}, {"max_tokens", 2},
                 {"keep_alive", "0s"}});
  ASSERT_TRUE(r && r->status == 200) << (r ? r->body : "");
  EXPECT_TRUE(eventually([&] { return ps(c).empty(); }));
  // A bad keep_alive is a 400 in both APIs.
  r = post_json(c, "/v1/completions", {{"model", "stories"}, {"prompt", "a"}, {"keep_alive", "soon"}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
  EXPECT_EQ(generate(c, "stories", {{"keep_alive", true}})["http_status"], 400);
}

TEST(ServeLifecycle, EmptyPromptLoadsAndKeepAliveZeroUnloads) {
  HEARTH_REQUIRE_FIXTURE(stories_path());
  RunningServer s(dir_options(models_dir("lifecycle_load", {"alpha"})));
  auto c = s.client();
  EXPECT_TRUE(ps(c).empty());
  auto r = post_json(c, "/api/generate", {{"model", "alpha"}});
  ASSERT_TRUE(r && r->status == 200) << (r ? r->body : "");
  EXPECT_EQ(json::parse(r->body)["done_reason"], "load");
  EXPECT_EQ(loaded_names(c), std::vector<std::string>{"alpha"});
  r = post_json(c, "/api/chat", {{"model", "alpha"}, {"messages", json::array()}, {"keep_alive", 0}});
  ASSERT_TRUE(r && r->status == 200) << (r ? r->body : "");
  EXPECT_EQ(json::parse(r->body)["done_reason"], "unload");
  EXPECT_TRUE(eventually([&] { return ps(c).empty(); }));
  // Unloading a model that is not loaded loads nothing; an unknown one is a 404.
  r = post_json(c, "/api/generate", {{"model", "alpha"}, {"keep_alive", 0}});
  ASSERT_TRUE(r && r->status == 200);
  EXPECT_TRUE(ps(c).empty());
  r = post_json(c, "/api/generate", {{"model", "nope"}, {"keep_alive", 0}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 404);
}

TEST(ServeLifecycle, MaxLoadedEvictsTheLeastRecentlyUsed) {
  HEARTH_REQUIRE_FIXTURE(stories_path());
  const std::string dir = models_dir("lifecycle_lru", {"alpha", "beta", "gamma"});
  {
    RunningServer s(dir_options(dir));  // default: one model at a time on CPU
    auto c = s.client();
    ASSERT_EQ(generate(c, "alpha")["http_status"], 200);
    ASSERT_EQ(generate(c, "beta")["http_status"], 200);
    EXPECT_EQ(loaded_names(c), std::vector<std::string>{"beta"});
  }
  ServerOptions o = dir_options(dir);
  o.max_loaded = 2;
  RunningServer s(o);
  auto c = s.client();
  ASSERT_EQ(generate(c, "alpha")["http_status"], 200);
  ASSERT_EQ(generate(c, "beta")["http_status"], 200);
  EXPECT_EQ(loaded_names(c), (std::vector<std::string>{"beta", "alpha"}));  // most recent first
  ASSERT_EQ(generate(c, "alpha")["http_status"], 200);                         // alpha is now the most recent
  ASSERT_EQ(generate(c, "gamma")["http_status"], 200);                         // so beta makes room
  EXPECT_EQ(loaded_names(c), (std::vector<std::string>{"gamma", "alpha"}));
}

// With --max-loaded models all generating, a request for another model waits in line until one finishes (as
// Ollama queues it) instead of failing; beyond --max-queue waiting requests it gets 503.
TEST(ServeLifecycle, RequestForAnotherModelWaitsForABusyOne) {
  HEARTH_REQUIRE_FIXTURE(stories_path());
  ServerOptions o = dir_options(models_dir("lifecycle_queue", {"alpha", "beta"}));
  o.max_loaded = 1;
  serve::ModelRegistry reg(o);
  auto alpha = reg.get("alpha");
  alpha->use->begin();  // a generation on alpha
  const auto t0 = std::chrono::steady_clock::now();
  std::thread finish([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    alpha->use->end();
  });
  auto beta = reg.get("beta");  // waits for alpha's generation, then alpha makes room
  const auto waited = std::chrono::steady_clock::now() - t0;
  finish.join();
  EXPECT_EQ(beta->name, "beta");
  EXPECT_GE(waited, std::chrono::milliseconds(250));
  ASSERT_EQ(reg.loaded().size(), 1u);
  EXPECT_EQ(reg.loaded()[0]->name, "beta");
  // No room in line: 503 at once.
  o.max_queue = 0;
  serve::ModelRegistry full(o);
  auto a = full.get("alpha");
  a->use->begin();
  try {
    full.get("beta");
    ADD_FAILURE() << "no 503";
  } catch (const serve::ApiError& e) {
    EXPECT_EQ(e.status, 503);
    EXPECT_NE(std::string(e.what()).find("--max-queue"), std::string::npos) << e.what();
  }
  a->use->end();
}

// A model loads without holding the registry: while one loads, requests for a loaded model and the list of
// loaded models answer at once, and a second request for the loading model waits for that load (no second copy).
TEST(ServeLifecycle, LoadingDoesNotBlockTheOthers) {
  HEARTH_REQUIRE_FIXTURE(stories_path());
  ServerOptions o = dir_options(models_dir("lifecycle_loading", {"alpha", "beta"}));
  o.max_loaded = 2;
  o.test_load_delay_ms = 1000;
  serve::ModelRegistry reg(o);
  reg.get("beta");  // loaded (slowly) before
  using Clock = std::chrono::steady_clock;
  std::shared_ptr<serve::LoadedModel> a1, a2;
  std::thread first([&] { a1 = reg.get("alpha"); });
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  std::thread second([&] { a2 = reg.get("alpha"); });
  auto t0 = Clock::now();
  EXPECT_EQ(reg.loaded().size(), 1u);  // alpha is still loading
  EXPECT_EQ(reg.get("beta")->name, "beta");
  EXPECT_LT(Clock::now() - t0, std::chrono::milliseconds(500));
  first.join();
  second.join();
  ASSERT_TRUE(a1 && a2);
  EXPECT_EQ(a1.get(), a2.get());
  EXPECT_EQ(reg.loaded().size(), 2u);
}

std::string fake_meminfo(const std::string& name, uint64_t kb) {
  fs::create_directories(HEARTH_TEST_TMP);
  const std::string path = std::string(HEARTH_TEST_TMP) + "/" + name;
  std::ofstream(path) << "MemTotal:  16000000 kB\nMemAvailable:  " << kb << " kB\n";
  return path;
}

TEST(ServeLifecycle, ModelThatDoesNotFitIsRefusedWithTheNumbers) {
  HEARTH_REQUIRE_FIXTURE(stories_path());
  ServerOptions o = dir_options(models_dir("lifecycle_fit", {"alpha"}));
  o.meminfo_path = fake_meminfo("meminfo_2mib", 2048);
  RunningServer s(o);
  auto c = s.client();
  for (const char* path : {"/api/generate", "/v1/completions"}) {
    auto r = post_json(c, path, {{"model", "alpha"}, {"prompt", "Once"}, {"stream", false}});
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 507) << r->body;
    const std::string body = r->body;
    EXPECT_NE(body.find("model needs"), std::string::npos) << body;
    EXPECT_NE(body.find("KV cache for 2 x 256 tokens"), std::string::npos) << body;
    EXPECT_NE(body.find("2.0 MiB available"), std::string::npos) << body;
  }
  EXPECT_TRUE(ps(c).empty());
  // -m: the server does not start.
  ServerOptions m = stories_options();
  m.meminfo_path = o.meminfo_path;
  try {
    Server server(m);
    ADD_FAILURE() << "the server started";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("model needs"), std::string::npos) << e.what();
  }
}

TEST(ServeLifecycle, HearthRunRefusesAModelThatDoesNotFit) {
  HEARTH_REQUIRE_FIXTURE(stories_path());
  if (!fs::exists(HEARTH_BINARY)) GTEST_SKIP() << "hearth binary not built: " << HEARTH_BINARY;
  const std::string meminfo = fake_meminfo("meminfo_run", 1024);
  auto r = run_command("HEARTH_MEMINFO=" + meminfo + " " + HEARTH_BINARY + " run -m " + stories_path() +
                       " -p Once -n 2 -c 128 2>&1");
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.out.find("model needs"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("1.0 MiB available"), std::string::npos) << r.out;
}

TEST(ServeLifecycle, HearthPsAndStop) {
  HEARTH_REQUIRE_FIXTURE(stories_path());
  if (!fs::exists(HEARTH_BINARY)) GTEST_SKIP() << "hearth binary not built: " << HEARTH_BINARY;
  ServerOptions o = stories_options();
  o.api_key = "sekrit";
  RunningServer s(o);
  const std::string bin = HEARTH_BINARY;
  const std::string at = " --host 127.0.0.1 --port " + std::to_string(s.port);
  auto r = run_command(bin + " ps" + at + " --api-key sekrit 2>&1");
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_EQ(r.out.rfind("NAME", 0), 0u) << r.out;
  for (const char* col : {"ID", "SIZE", "PROCESSOR", "UNTIL"}) EXPECT_NE(r.out.find(col), std::string::npos);
  EXPECT_NE(r.out.find("\nstories "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("100% CPU"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("from now"), std::string::npos) << r.out;
  // HEARTH_HOST and HEARTH_API_KEY instead of flags; a wrong key is a clear error.
  r = run_command("HEARTH_HOST=127.0.0.1:" + std::to_string(s.port) + " HEARTH_API_KEY=sekrit " + bin + " ps 2>&1");
  EXPECT_EQ(r.status, 0) << r.out;
  r = run_command(bin + " ps" + at + " --api-key wrong 2>&1");
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.out.find("401"), std::string::npos) << r.out;

  r = run_command(bin + " stop nothing" + at + " --api-key sekrit 2>&1");
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.out.find("'nothing' is not loaded"), std::string::npos) << r.out;
  r = run_command(bin + " stop stories" + at + " --api-key sekrit 2>&1");
  EXPECT_EQ(r.status, 0) << r.out;
  auto c = s.client();
  c.set_bearer_token_auth("sekrit");
  EXPECT_TRUE(eventually([&] { return ps(c).empty(); }));
  r = run_command(bin + " ps" + at + " --api-key sekrit 2>&1");
  EXPECT_EQ(r.status, 0);
  EXPECT_EQ(r.out.find("stories"), std::string::npos) << r.out;
}

TEST(ServeLifecycle, HearthPsWithoutAServerSaysSo) {
  if (!fs::exists(HEARTH_BINARY)) GTEST_SKIP() << "hearth binary not built: " << HEARTH_BINARY;
  // Port 1 (tcpmux): privileged and unused on any machine that runs these tests.
  const int port = 1;
  auto r = run_command(std::string(HEARTH_BINARY) + " ps --port " + std::to_string(port) + " 2>&1");
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.out.find("no hearth server answers at http://127.0.0.1:" + std::to_string(port)), std::string::npos)
      << r.out;
}

}  // namespace
}  // namespace hearth

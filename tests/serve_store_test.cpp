// The store endpoints of the real server over HTTP: /api/pull (from a local HTTP server in this process),
// /api/create, /api/copy, /api/delete, and what /api/tags, /api/show, /v1/models and generation make of
// store models, profile defaults included.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <mutex>
#include <thread>

#include "hearth/store.h"
#include "serve_test_util.h"

namespace hearth {
namespace {

namespace fs = std::filesystem;
using test::json;
using test::parse_ndjson;
using test::post_json;

class ServeStore : public ::testing::Test {
 protected:
  void SetUp() override {
    HEARTH_REQUIRE_FIXTURE(test::stories_path());
    body_ = test::read_text(test::stories_path());
    auto r = test::run_command("sha256sum '" + test::stories_path() + "'");
    ASSERT_EQ(r.status, 0);
    digest_ = r.out.substr(0, 64);
    hub_.Get("/files/stories.gguf", [this](const httplib::Request&, httplib::Response& res) {
      res.set_content(body_, "application/octet-stream");
    });
    hub_port_ = hub_.bind_to_any_port("127.0.0.1");
    hub_thread_ = std::thread([this] { hub_.listen_after_bind(); });
    while (!hub_.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    dir_ = fs::path(HEARTH_TEST_TMP) / (std::string("serve-store-") +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override {
    if (hub_thread_.joinable()) {
      hub_.stop();
      hub_thread_.join();
    }
    fs::remove_all(dir_);
  }
  ServerOptions options() const {
    ServerOptions o = test::stories_options(2, 128);
    o.model_path.clear();
    o.alias.clear();
    o.models_dir = dir_.string();
    o.allow_private_pull = true;  // the hub is on loopback (serve_pull_test: refused by default)
    return o;
  }
  std::string hub_url() const { return "http://127.0.0.1:" + std::to_string(hub_port_) + "/files/stories.gguf"; }
  static json tags(httplib::Client& c) {
    auto r = c.Get("/api/tags");
    EXPECT_TRUE(r && r->status == 200);
    return r ? json::parse(r->body)["models"] : json::array();
  }
  // Generates one token with NAME (loading it), then its context length in /api/ps; -status when the request
  // fails, 0 when it is not listed.
  static int loaded_context(httplib::Client& c, const std::string& name) {
    auto r = post_json(c, "/api/generate",
                       {{"model", name}, {"prompt", "Hi"}, {"stream", false}, {"options", {{"num_predict", 1}}}});
    if (!r || r->status != 200) return -(r ? r->status : 1);
    r = c.Get("/api/ps");
    if (!r) return -1;
    const json ps = json::parse(r->body);
    for (const json& m : ps["models"])
      if (m["name"] == name + ":latest") return m["context_length"].get<int>();
    return 0;
  }
  static const json* find_tag(const json& models, const std::string& name) {
    for (const json& m : models)
      if (m["name"] == name) return &m;
    return nullptr;
  }

  httplib::Server hub_;
  std::thread hub_thread_;
  int hub_port_ = 0;
  std::string body_, digest_;
  fs::path dir_;
};

TEST_F(ServeStore, PullStreamsProgressAndRegisters) {
  test::RunningServer s(options());
  auto c = s.client();
  auto r = post_json(c, "/api/pull", {{"model", hub_url()}});
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(r->get_header_value("Content-Type"), "application/x-ndjson");
  auto lines = parse_ndjson(r->body);
  ASSERT_GE(lines.size(), 2u);
  EXPECT_EQ(lines.back(), json({{"status", "success"}}));
  bool saw_total = false;
  for (const json& l : lines)
    if (l.contains("total") && l["total"] == body_.size() && l["completed"] == body_.size()) saw_total = true;
  EXPECT_TRUE(saw_total) << r->body;
  const json models = tags(c);
  const json* m = find_tag(models, "stories:latest");
  ASSERT_TRUE(m) << models.dump();
  EXPECT_EQ((*m)["digest"], digest_);
  EXPECT_EQ((*m)["size"], body_.size());
  EXPECT_EQ((*m)["details"]["family"], "llama");
  // Not streamed, under another name, with checks.
  r = post_json(c, "/api/pull",
                {{"model", hub_url()}, {"destination", "tiny:v1"}, {"sha256", digest_}, {"stream", false}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(json::parse(r->body), json({{"status", "success"}}));
  EXPECT_TRUE(find_tag(tags(c), "tiny:v1"));
}

TEST_F(ServeStore, PullErrors) {
  test::RunningServer s(options());
  auto c = s.client();
  auto r = post_json(c, "/api/pull", {{"model", "llama3"}});  // an Ollama registry name: not here
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
  EXPECT_NE(json::parse(r->body)["error"].get<std::string>().find("URL"), std::string::npos) << r->body;
  r = post_json(c, "/api/pull", {{"model", hub_url() + ".absent"}, {"stream", false}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 404) << r->body;
  r = post_json(c, "/api/pull", {{"model", hub_url()}, {"sha256", std::string(64, '0')}, {"stream", false}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400) << r->body;
  EXPECT_NE(json::parse(r->body)["error"].get<std::string>().find("sha256"), std::string::npos) << r->body;
  // Streamed, the error is the last line.
  r = post_json(c, "/api/pull", {{"model", hub_url()}, {"sha256", std::string(64, '0')}});
  ASSERT_TRUE(r);
  auto lines = parse_ndjson(r->body);
  ASSERT_FALSE(lines.empty());
  EXPECT_TRUE(lines.back().contains("error")) << r->body;
  r = post_json(c, "/api/pull", {{"model", hub_url()}, {"destination", "../x"}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
  r = c.Post("/api/pull", "{not json", "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
  EXPECT_TRUE(tags(c).empty());
}

TEST_F(ServeStore, CreateCopyDeleteShow) {
  ModelStore(dir_.string()).import_file(test::stories_path(), "stories");
  test::RunningServer s(options());
  auto c = s.client();
  auto r = post_json(c, "/api/create",
                     {{"model", "terse"},
                      {"from", "stories"},
                      {"system", "Be terse."},
                      {"parameters", {{"temperature", 0}, {"stop", {"END", "STOP"}}, {"num_predict", 8}}},
                      {"stream", false}});
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  r = post_json(c, "/api/show", {{"model", "terse"}});
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  json shown = json::parse(r->body);
  EXPECT_EQ(shown["system"], "Be terse.");
  // JSON objects have no order: the parameters come in key order.
  EXPECT_EQ(shown["parameters"], "num_predict 8\nstop \"END\"\nstop \"STOP\"\ntemperature 0\n");
  EXPECT_NE(shown["modelfile"].get<std::string>().find("PARAMETER temperature 0"), std::string::npos);
  EXPECT_EQ(shown["details"]["family"], "llama");
  EXPECT_EQ(shown["digest"], "sha256:" + digest_);

  // Copy, then both names are listed (one blob).
  r = post_json(c, "/api/copy", {{"source", "terse"}, {"destination", "terse-copy:v2"}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200) << r->body;
  json models = tags(c);
  EXPECT_TRUE(find_tag(models, "terse-copy:v2"));
  EXPECT_TRUE(find_tag(models, "terse:latest"));
  auto v1 = c.Get("/v1/models");
  ASSERT_TRUE(v1);
  EXPECT_NE(v1->body.find("terse-copy:v2"), std::string::npos);
  r = post_json(c, "/api/show", {{"model", "terse-copy:v2"}});
  ASSERT_TRUE(r);
  EXPECT_EQ(json::parse(r->body)["system"], "Be terse.");

  // Delete (Ollama sends DELETE with a body), then it is gone; unknown names are 404.
  r = c.Delete("/api/delete", json({{"model", "terse-copy:v2"}}).dump(), "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200) << r->body;
  EXPECT_FALSE(find_tag(tags(c), "terse-copy:v2"));
  r = c.Delete("/api/delete", json({{"model", "terse-copy:v2"}}).dump(), "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 404) << r->body;
  r = post_json(c, "/api/copy", {{"source", "absent"}, {"destination", "x"}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 404);
  r = post_json(c, "/api/show", {{"model", "terse-copy:v2"}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 404);
  EXPECT_EQ(fs::file_size(dir_ / "blobs" / ("sha256-" + digest_)), body_.size());  // still used by two names
}

TEST_F(ServeStore, CreateErrors) {
  ModelStore(dir_.string()).import_file(test::stories_path(), "stories");
  test::RunningServer s(options());
  auto c = s.client();
  auto status = [&](const json& body) {
    auto r = post_json(c, "/api/create", body);
    return r ? r->status : -1;
  };
  EXPECT_EQ(status({{"model", "x"}, {"from", "absent"}, {"stream", false}}), 404);
  // A path would let clients read the server's files: only store models are bases over HTTP.
  EXPECT_EQ(status({{"model", "x"}, {"from", test::stories_path()}, {"stream", false}}), 404);
  EXPECT_EQ(status({{"model", "x"}, {"stream", false}}), 400);
  EXPECT_EQ(status({{"model", "../x"}, {"from", "stories"}}), 400);
  EXPECT_EQ(status({{"model", "x"}, {"from", "stories"}, {"parameters", {{"temperature", "hot"}}}}), 400);
  EXPECT_EQ(status({{"model", "x"}, {"from", "stories"}, {"parameters", {{"warmth", 1}}}}), 400);
  EXPECT_EQ(status({{"model", "x"}, {"from", "stories"}, {"parameters", "temperature 0"}}), 400);
  EXPECT_EQ(status({{"model", "x"}, {"from", "stories"}, {"quantize", "q4_0"}}), 501);
  EXPECT_FALSE(find_tag(tags(c), "x:latest"));
  // Ollama's older clients send a Modelfile.
  EXPECT_EQ(status({{"model", "mf"}, {"modelfile", "FROM stories\nPARAMETER top_k 3\n"}, {"stream", false}}), 200);
  EXPECT_TRUE(find_tag(tags(c), "mf:latest"));
}

TEST_F(ServeStore, ProfileDefaultsApplyAndRequestValuesWin) {
  ModelStore store(dir_.string());
  store.import_file(test::stories_path(), "stories");
  Profile p;
  p.from = "stories";
  p.system = "Be terse.";
  p.parameters = {{"temperature", "0"}, {"num_predict", "12"}};
  store.create("greedy", p);
  test::RunningServer s(options());
  auto c = s.client();
  // The reference: the same model, greedy, with the system prompt sent in the request.
  auto model = test::load_stories_model();
  const std::vector<ChatMessage> with_system = {{"system", "Be terse."}, {"user", "Once upon a time"}};
  SessionParams sp;
  sp.n_ctx = 128;
  Session session(*model, sp);
  GenerateParams g;
  g.n_predict = 12;
  g.sampling.temperature = 0;
  std::string want;
  generate(session, model->tokenize_chat(with_system, true), g, [&](const std::string& t) {
    want += t;
    return true;
  });
  ASSERT_FALSE(want.empty());

  // No options: temperature 0, 12 tokens and the system prompt come from the profile.
  auto r = post_json(c, "/api/chat",
                     {{"model", "greedy"},
                      {"messages", {{{"role", "user"}, {"content", "Once upon a time"}}}},
                      {"stream", false},
                      {"options", {{"seed", 1}}}});
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  json j = json::parse(r->body);
  EXPECT_EQ(j["message"]["content"], want);
  EXPECT_EQ(j["eval_count"], 12);
  // The OpenAI API gets the same defaults.
  r = post_json(c, "/v1/chat/completions",
                {{"model", "greedy"}, {"messages", {{{"role", "user"}, {"content", "Once upon a time"}}}}});
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  j = json::parse(r->body);
  EXPECT_EQ(j["choices"][0]["message"]["content"], want);
  EXPECT_EQ(j["usage"]["completion_tokens"], 12);
  // Request values win: num_predict 3 and a system message of its own.
  r = post_json(c, "/api/chat",
                {{"model", "greedy"},
                 {"messages", {{{"role", "system"}, {"content", "Other."}}, {{"role", "user"}, {"content", "Once upon a time"}}}},
                 {"stream", false},
                 {"options", {{"num_predict", 3}}}});
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  j = json::parse(r->body);
  EXPECT_EQ(j["eval_count"], 3);
  EXPECT_EQ(j["prompt_eval_count"],
            static_cast<int>(model->tokenize_chat({{"system", "Other."}, {"user", "Once upon a time"}}, true).size()));
  r = post_json(c, "/v1/chat/completions",
                {{"model", "greedy"}, {"max_tokens", 2}, {"messages", {{{"role", "user"}, {"content", "Once"}}}}});
  ASSERT_TRUE(r);
  EXPECT_EQ(json::parse(r->body)["usage"]["completion_tokens"], 2);
  // The plain import has no defaults: the prompt has no system message.
  r = post_json(c, "/api/chat",
                {{"model", "stories"},
                 {"messages", {{{"role", "user"}, {"content", "Once upon a time"}}}},
                 {"stream", false},
                 {"options", {{"num_predict", 1}}}});
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(json::parse(r->body)["prompt_eval_count"],
            static_cast<int>(model->tokenize_chat({{"user", "Once upon a time"}}, true).size()));
}

TEST_F(ServeStore, ProfileTemplateFormatsTheChat) {
  ModelStore store(dir_.string());
  store.import_file(test::stories_path(), "stories");
  Profile by_name, by_text;
  by_name.from = by_text.from = "stories";
  by_name.tmpl = "chatml";
  // A ChatML Jinja template as Hugging Face tokenizers ship it (recognized by its markers).
  by_text.tmpl =
      "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + "
      "'<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";
  store.create("chatml-name", by_name);
  store.create("chatml-text", by_text);
  test::RunningServer s(options());
  auto c = s.client();
  auto model = test::load_stories_model();
  // ChatML, written out by hand: what the prompt must be.
  const std::string want = "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi there<|im_end|>\n"
                           "<|im_start|>assistant\n";
  const int want_tokens = static_cast<int>(model->tokenize(want, true, true).size());
  ASSERT_NE(want_tokens, static_cast<int>(model->tokenize_chat({{"system", "Be brief."}, {"user", "Hi there"}}, true).size()));
  for (const char* name : {"chatml-name", "chatml-text"}) {
    auto r = post_json(c, "/api/chat",
                       {{"model", name},
                        {"messages", {{{"role", "system"}, {"content", "Be brief."}}, {{"role", "user"}, {"content", "Hi there"}}}},
                        {"stream", false},
                        {"options", {{"num_predict", 1}}}});
    ASSERT_TRUE(r);
    ASSERT_EQ(r->status, 200) << r->body;
    EXPECT_EQ(json::parse(r->body)["prompt_eval_count"], want_tokens) << name;
    r = post_json(c, "/v1/chat/completions",
                  {{"model", name},
                   {"max_tokens", 1},
                   {"messages", {{{"role", "system"}, {"content", "Be brief."}}, {{"role", "user"}, {"content", "Hi there"}}}}});
    ASSERT_TRUE(r);
    ASSERT_EQ(r->status, 200) << r->body;
    EXPECT_EQ(json::parse(r->body)["usage"]["prompt_tokens"], want_tokens) << name;
  }
}

// PARAMETER num_ctx is the context the model loads with (the server's -c is 128 here).
TEST_F(ServeStore, ProfileNumCtxSetsTheContext) {
  ModelStore store(dir_.string());
  store.import_file(test::stories_path(), "stories");
  Profile p;
  p.from = "stories";
  p.parameters = {{"num_ctx", "48"}};
  store.create("short", p);
  p.parameters = {{"num_ctx", "8"}};
  EXPECT_THROW(store.create("tiny", p), Error);
  test::RunningServer s(options());
  auto c = s.client();
  const std::string words = "one two three four five six seven eight nine ten eleven twelve thirteen fourteen";
  for (const auto& [name, ctx] : std::vector<std::pair<std::string, int>>{{"short", 48}, {"stories", 128}}) {
    auto r = post_json(c, "/v1/completions", {{"model", name}, {"prompt", words + " " + words}, {"max_tokens", 1}});
    ASSERT_TRUE(r);
    // About 60 tokens: beyond the profile's 48, within the server's 128.
    EXPECT_EQ(r->status, ctx == 48 ? 400 : 200) << name << ": " << r->body;
    EXPECT_EQ(loaded_context(c, name), ctx) << name;
  }
}

// The store changing under a running server (hearth create/rm from another process): a re-created model is
// loaded again with its new profile, a deleted one is no longer served.
TEST_F(ServeStore, RecreatedOrDeletedModelIsNotServedStale) {
  ModelStore store(dir_.string());
  store.import_file(test::stories_path(), "stories");
  Profile p;
  p.from = "stories";
  p.parameters = {{"num_ctx", "48"}};
  store.create("mine", p);
  test::RunningServer s(options());
  auto c = s.client();
  EXPECT_EQ(loaded_context(c, "mine"), 48);
  p.parameters = {{"num_ctx", "64"}};
  store.create("mine", p);  // as `hearth create` in another process would
  EXPECT_EQ(loaded_context(c, "mine"), 64);
  store.remove("mine");
  EXPECT_EQ(loaded_context(c, "mine"), -404);
}

// A loose *.gguf that is no GGUF (or cannot be read) is named in "errors"; the others are still listed.
TEST_F(ServeStore, UnreadableFileDoesNotHideTheOthers) {
  ModelStore(dir_.string()).import_file(test::stories_path(), "stories");
  std::ofstream(dir_ / "broken.gguf") << "not a model at all";
  std::vector<std::string> log;
  std::mutex log_mu;
  ServerOptions o = options();
  o.access_log = [&](const std::string& line) {
    std::lock_guard<std::mutex> g(log_mu);
    log.push_back(line);
  };
  test::RunningServer s(o);
  auto c = s.client();
  auto r = c.Get("/api/tags");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  const json j = json::parse(r->body);
  EXPECT_TRUE(find_tag(j["models"], "stories:latest")) << r->body;
  EXPECT_FALSE(find_tag(j["models"], "broken")) << r->body;
  ASSERT_EQ(j["errors"].size(), 1u) << r->body;
  EXPECT_EQ(j["errors"][0]["name"], "broken");
  const std::string why = j["errors"][0]["error"];
  EXPECT_NE(why.find("broken.gguf"), std::string::npos) << why;
  EXPECT_EQ(why.find(dir_.string()), std::string::npos) << why;  // not where the server keeps its files
  r = c.Get("/api/tags");  // logged once, not on every listing
  ASSERT_TRUE(r && r->status == 200);
  std::lock_guard<std::mutex> g(log_mu);
  size_t said = 0;
  for (const std::string& line : log) said += line.find("broken.gguf") != std::string::npos;
  EXPECT_EQ(said, 1u);
}

// The model given with -m is listed like the store's: it has an ID (its file's SHA-256), and it can be the base
// of /api/create and /api/copy (imported into the store).
TEST_F(ServeStore, ServedModelHasAnIdAndIsABase) {
  ServerOptions o = options();
  o.model_path = test::stories_path();
  o.alias = "served";
  test::RunningServer s(o);
  auto c = s.client();
  std::string id;
  for (int i = 0; i < 200 && id.empty(); ++i) {  // hashed in the background
    const json models = tags(c);
    if (const json* m = find_tag(models, "served")) id = (*m)["digest"].get<std::string>();
    if (id.empty()) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_EQ(id, digest_);
  auto r = c.Get("/api/ps");  // loaded at start
  ASSERT_TRUE(r);
  const json ps = json::parse(r->body)["models"];
  ASSERT_EQ(ps.size(), 1u) << r->body;
  EXPECT_EQ(ps[0]["digest"], digest_);

  r = post_json(c, "/api/create", {{"model", "terse"}, {"from", "served"}, {"system", "Be terse."}, {"stream", false}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200) << r->body;
  r = post_json(c, "/api/copy", {{"source", "served:latest"}, {"destination", "copied"}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200) << r->body;
  ModelStore store(dir_.string());
  ASSERT_TRUE(store.find("terse").has_value());
  ASSERT_TRUE(store.find("copied").has_value());
  EXPECT_EQ(store.get("terse").digest, "sha256:" + digest_);
  EXPECT_EQ(store.get("terse").system, "Be terse.");
  EXPECT_EQ(store.get("copied").digest, "sha256:" + digest_);
  // Still no path as a base: only the file this server serves.
  r = post_json(c, "/api/create", {{"model", "x"}, {"from", test::stories_path()}, {"stream", false}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 404) << r->body;
}

TEST_F(ServeStore, StoreWithoutDirectoryIsAClearError) {
  test::RunningServer s(test::stories_options(1, 64));  // -m only: no store
  auto c = s.client();
  auto r = post_json(c, "/api/copy", {{"source", "stories"}, {"destination", "x"}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
  EXPECT_NE(r->body.find("--models"), std::string::npos) << r->body;
}

}  // namespace
}  // namespace hearth

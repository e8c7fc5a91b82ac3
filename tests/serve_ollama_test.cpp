// hearth serve, Ollama API: /api/generate and /api/chat stream NDJSON that concatenates to the
// non-stream text (raw generate: the greedy text generate() gives), with Ollama's counters;
// /api/tags, /api/ps, /api/show, /api/version answer in Ollama's shapes.
#include <gtest/gtest.h>

#ifdef HEARTH_HAVE_HTTP
#include "serve_test_util.h"

namespace hearth::test {
namespace {

class ServeOllama : public SharedStoriesServer<ServeOllama> {};

TEST_F(ServeOllama, RawGenerateStreamsTheGreedyText) {
  auto c = server_->client();
  const std::string prompt = "Lily and Ben went to the park";
  json req = {{"model", "stories:latest"}, {"prompt", prompt}, {"raw", true},
              {"options", {{"temperature", 0}, {"num_predict", 45}}}};
  auto r = post_json(c, "/api/generate", req);  // streams by default
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(r->get_header_value("Content-Type"), "application/x-ndjson");
  auto lines = parse_ndjson(r->body);
  ASSERT_GE(lines.size(), 2u);
  std::string text;
  for (size_t i = 0; i + 1 < lines.size(); ++i) {
    EXPECT_EQ(lines[i]["done"], false);
    EXPECT_EQ(lines[i]["model"], "stories");
    text += lines[i]["response"].get<std::string>();
  }
  const json& last = lines.back();
  EXPECT_EQ(last["done"], true);
  EXPECT_EQ(last["done_reason"], "length");
  EXPECT_EQ(last["eval_count"], 45);
  EXPECT_EQ(last["prompt_eval_count"], static_cast<int>(model_->tokenize(prompt, true, true).size()));
  EXPECT_GT(last["total_duration"].get<int64_t>(), 0);
  EXPECT_TRUE(last.contains("eval_duration"));
  EXPECT_TRUE(last.contains("prompt_eval_duration"));
  EXPECT_EQ(text, greedy_text(*model_, prompt, 45));

  req["stream"] = false;
  auto whole = post_json(c, "/api/generate", req);
  ASSERT_EQ(whole->status, 200) << whole->body;
  json w = json::parse(whole->body);
  EXPECT_EQ(w["response"], text);
  EXPECT_EQ(w["done"], true);
  EXPECT_EQ(w["eval_count"], 45);
}

TEST_F(ServeOllama, ChatStreamAndWholeAgree) {
  auto c = server_->client();
  json req = {{"model", "stories"},
              {"messages", {{{"role", "user"}, {"content", "Tell me about a frog"}}}},
              {"options", {{"temperature", 0}, {"num_predict", 30}}},
              {"stream", false}};
  auto whole = post_json(c, "/api/chat", req);
  ASSERT_EQ(whole->status, 200) << whole->body;
  json w = json::parse(whole->body);
  EXPECT_EQ(w["message"]["role"], "assistant");
  EXPECT_EQ(w["prompt_eval_count"],
            static_cast<int>(model_->tokenize_chat({{"user", "Tell me about a frog"}}, true).size()));
  req["stream"] = true;
  auto streamed = post_json(c, "/api/chat", req);
  ASSERT_EQ(streamed->status, 200);
  std::string text;
  auto lines = parse_ndjson(streamed->body);
  for (const json& l : lines) text += l["message"]["content"].get<std::string>();
  EXPECT_EQ(text, w["message"]["content"]);
  EXPECT_EQ(lines.back()["done"], true);
  EXPECT_EQ(lines.back()["eval_count"], w["eval_count"]);
}

TEST_F(ServeOllama, TagsPsShowVersion) {
  auto c = server_->client();
  auto tags = c.Get("/api/tags");
  ASSERT_EQ(tags->status, 200);
  json t = json::parse(tags->body);
  ASSERT_EQ(t["models"].size(), 1u);
  EXPECT_EQ(t["models"][0]["name"], "stories");
  EXPECT_EQ(t["models"][0]["details"]["format"], "gguf");
  EXPECT_EQ(t["models"][0]["details"]["family"], "llama");
  EXPECT_GT(t["models"][0]["size"].get<uint64_t>(), 0u);

  auto ps = c.Get("/api/ps");
  ASSERT_EQ(ps->status, 200);
  EXPECT_EQ(json::parse(ps->body)["models"][0]["name"], "stories");

  auto show = post_json(c, "/api/show", {{"model", "stories"}});
  ASSERT_EQ(show->status, 200) << show->body;
  json s = json::parse(show->body);
  EXPECT_EQ(s["model_info"]["general.architecture"], "llama");
  EXPECT_EQ(s["model_info"]["llama.context_length"], model_->info().n_ctx_train);
  auto missing = post_json(c, "/api/show", {{"model", "nope"}});
  EXPECT_EQ(missing->status, 404);
  EXPECT_TRUE(json::parse(missing->body)["error"].is_string());

  auto v = c.Get("/api/version");
  ASSERT_EQ(v->status, 200);
  EXPECT_TRUE(json::parse(v->body)["version"].is_string());
}

TEST_F(ServeOllama, EmptyPromptLoadsTheModel) {
  auto c = server_->client();
  auto r = post_json(c, "/api/generate", {{"model", "stories"}});
  ASSERT_EQ(r->status, 200) << r->body;
  json j = json::parse(r->body);
  EXPECT_EQ(j["done"], true);
  EXPECT_EQ(j["done_reason"], "load");
  auto chat = post_json(c, "/api/chat", {{"model", "stories"}, {"messages", json::array()}});
  ASSERT_EQ(chat->status, 200) << chat->body;
  EXPECT_EQ(json::parse(chat->body)["done_reason"], "load");
}

}  // namespace
}  // namespace hearth::test
#else
TEST(ServeOllama, NeedsHttp) { GTEST_SKIP() << "built without cpp-httplib"; }
#endif

// hearth serve, OpenAI API: the real server over HTTP gives the greedy text generate() gives, streamed
// (SSE) and whole, with the right usage counts; /v1/models lists the model.
#include <gtest/gtest.h>

#ifdef HEARTH_HAVE_HTTP
#include "serve_test_util.h"

namespace hearth::test {
namespace {

class ServeOpenAI : public SharedStoriesServer<ServeOpenAI> {};

TEST_F(ServeOpenAI, GreedyCompletionEqualsGenerate) {
  auto c = server_->client();
  const std::string prompt = "Once upon a time";
  auto r = post_json(c, "/v1/completions", {{"model", "stories"}, {"prompt", prompt}, {"max_tokens", 40}, {"temperature", 0}});
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(r->get_header_value("Content-Type"), "application/json");
  json j = json::parse(r->body);
  EXPECT_EQ(j["object"], "text_completion");
  EXPECT_EQ(j["model"], "stories");
  EXPECT_EQ(j["choices"][0]["text"], greedy_text(*model_, prompt, 40));
  EXPECT_EQ(j["choices"][0]["finish_reason"], "length");
  const int n_prompt = static_cast<int>(model_->tokenize(prompt, true, true).size());
  EXPECT_EQ(j["usage"]["prompt_tokens"], n_prompt);
  EXPECT_EQ(j["usage"]["completion_tokens"], 40);
  EXPECT_EQ(j["usage"]["total_tokens"], n_prompt + 40);
  EXPECT_EQ(j["timings"]["predicted_n"], 40);
  EXPECT_GE(j["timings"]["predicted_ms"].get<double>(), 0.0);
}

TEST_F(ServeOpenAI, StreamedCompletionConcatenatesToTheWholeText) {
  auto c = server_->client();
  const std::string prompt = "The little dog";
  auto r = post_json(c, "/v1/completions",
                     {{"model", "stories"}, {"prompt", prompt}, {"max_tokens", 50}, {"temperature", 0}, {"stream", true},
                      {"stream_options", {{"include_usage", true}}}});
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(r->get_header_value("Content-Type"), "text/event-stream");
  bool done = false;
  auto events = parse_sse(r->body, &done);
  EXPECT_TRUE(done);
  ASSERT_GE(events.size(), 3u);
  std::string text;
  std::string finish;
  json usage;
  for (const json& e : events) {
    EXPECT_EQ(e["object"], "text_completion");
    if (e.contains("usage")) usage = e["usage"];
    if (e["choices"].empty()) continue;
    text += e["choices"][0]["text"].get<std::string>();
    if (!e["choices"][0]["finish_reason"].is_null()) finish = e["choices"][0]["finish_reason"];
  }
  EXPECT_EQ(text, greedy_text(*model_, prompt, 50));
  EXPECT_EQ(finish, "length");
  EXPECT_EQ(usage["completion_tokens"], 50);
}

TEST_F(ServeOpenAI, ChatStreamAndWholeAgree) {
  auto c = server_->client();
  json req = {{"model", "stories"},
              {"messages", {{{"role", "system"}, {"content", "Tell a story."}}, {{"role", "user"}, {"content", "A cat"}}}},
              {"max_tokens", 30},
              {"temperature", 0}};
  auto whole = post_json(c, "/v1/chat/completions", req);
  ASSERT_TRUE(whole);
  ASSERT_EQ(whole->status, 200) << whole->body;
  json w = json::parse(whole->body);
  EXPECT_EQ(w["object"], "chat.completion");
  EXPECT_EQ(w["choices"][0]["message"]["role"], "assistant");
  const std::string text = w["choices"][0]["message"]["content"];
  EXPECT_FALSE(text.empty());
  const int n_prompt = static_cast<int>(
      model_->tokenize_chat({{"system", "Tell a story."}, {"user", "A cat"}}, true).size());
  EXPECT_EQ(w["usage"]["prompt_tokens"], n_prompt);

  req["stream"] = true;
  auto streamed = post_json(c, "/v1/chat/completions", req);
  ASSERT_TRUE(streamed);
  ASSERT_EQ(streamed->status, 200);
  bool done = false;
  auto events = parse_sse(streamed->body, &done);
  EXPECT_TRUE(done);
  ASSERT_FALSE(events.empty());
  EXPECT_EQ(events[0]["choices"][0]["delta"]["role"], "assistant");
  std::string joined;
  for (const json& e : events) {
    EXPECT_EQ(e["object"], "chat.completion.chunk");
    const json& d = e["choices"][0]["delta"];
    if (d.contains("content")) joined += d["content"].get<std::string>();
  }
  EXPECT_EQ(joined, text);
  EXPECT_EQ(events.back()["choices"][0]["finish_reason"], w["choices"][0]["finish_reason"]);
}

// A conversation's next turn reuses the K/V its sequence holds (llama.cpp's cache_prompt): the timings say how
// many prompt tokens were reused, and the reply is the one a full evaluation gives.
TEST_F(ServeOpenAI, NextChatTurnReusesTheCachedPrompt) {
  auto c = server_->client();
  json messages = {{{"role", "system"}, {"content", "Tell a story."}}, {{"role", "user"}, {"content", "A big tree"}}};
  json req = {{"model", "stories"}, {"messages", messages}, {"max_tokens", 24}, {"temperature", 0}};
  auto first = post_json(c, "/v1/chat/completions", req);
  ASSERT_TRUE(first);
  ASSERT_EQ(first->status, 200) << first->body;
  json f = json::parse(first->body);
  messages.push_back({{"role", "assistant"}, {"content", f["choices"][0]["message"]["content"]}});
  messages.push_back({{"role", "user"}, {"content", "And then?"}});
  req["messages"] = messages;
  auto second = post_json(c, "/v1/chat/completions", req);
  ASSERT_TRUE(second);
  ASSERT_EQ(second->status, 200) << second->body;
  json s2 = json::parse(second->body);
  const int cached = s2["timings"]["cache_n"];
  EXPECT_GT(cached, f["usage"]["prompt_tokens"].get<int>()) << s2.dump();
  EXPECT_EQ(s2["timings"]["prompt_n"].get<int>() + cached, s2["usage"]["prompt_tokens"].get<int>());

  req["cache_prompt"] = false;
  auto fresh = post_json(c, "/v1/chat/completions", req);
  ASSERT_TRUE(fresh);
  ASSERT_EQ(fresh->status, 200) << fresh->body;
  json s3 = json::parse(fresh->body);
  EXPECT_EQ(s3["timings"]["cache_n"], 0);
  EXPECT_EQ(s3["choices"][0]["message"]["content"], s2["choices"][0]["message"]["content"]);
}

// JSON mode through both APIs: the reply is a valid start of a JSON object (stories260K never saw JSON, so it
// may run out of tokens first), and a complete object when the model ended it.
TEST_F(ServeOpenAI, JsonModeThroughBothApis) {
  auto c = server_->client();
  auto check = [](const std::string& text, bool ended) {
    json j = json::parse(text, nullptr, false);
    if (ended) {
      EXPECT_TRUE(!j.is_discarded() && j.is_object()) << text;
    }
    const size_t brace = text.find_first_not_of(" \t\r\n");
    ASSERT_NE(brace, std::string::npos) << text;
    EXPECT_EQ(text[brace], '{') << text;
  };
  for (int seed = 1; seed <= 3; ++seed) {
    auto r = post_json(c, "/v1/chat/completions",
                       {{"model", "stories"},
                        {"messages", {{{"role", "user"}, {"content", "A cat"}}}},
                        {"response_format", {{"type", "json_object"}}},
                        {"max_tokens", 150},
                        {"seed", seed}});
    ASSERT_TRUE(r);
    ASSERT_EQ(r->status, 200) << r->body;
    json j = json::parse(r->body);
    check(j["choices"][0]["message"]["content"], j["choices"][0]["finish_reason"] == "stop");
    auto o = post_json(c, "/api/generate",
                       {{"model", "stories"}, {"prompt", "A dog"}, {"format", "json"}, {"stream", false},
                        {"options", {{"num_predict", 150}, {"seed", seed}}}});
    ASSERT_TRUE(o);
    ASSERT_EQ(o->status, 200) << o->body;
    json oj = json::parse(o->body);
    check(oj["response"], oj["done_reason"] == "stop");
  }
}

// A JSON schema through both APIs: the reply starts with the schema's first property (in the order the request
// wrote them, not alphabetical), and a finished reply has every property with its type.
TEST_F(ServeOpenAI, JsonSchemaThroughBothApis) {
  auto c = server_->client();
  // Raw text keeps the property order ("title" after "mood" would sort before it).
  const std::string schema =
      R"({"type":"object","properties":{"mood":{"enum":["happy","sad"]},"title":{"type":"string"},)"
      R"("count":{"type":"integer"}}})";
  auto check = [](const std::string& text, bool ended) {
    const size_t brace = text.find_first_not_of(" \t\r\n");
    ASSERT_NE(brace, std::string::npos) << text;
    EXPECT_EQ(text[brace], '{') << text;
    const size_t at = text.find_first_not_of(" \t\r\n", brace + 1);
    EXPECT_EQ(text.compare(at, 6, "\"mood\""), 0) << text;
    if (!ended) return;
    json j = json::parse(text, nullptr, false);
    ASSERT_TRUE(j.is_object()) << text;
    EXPECT_TRUE(j["mood"] == "happy" || j["mood"] == "sad") << text;
    EXPECT_TRUE(j["title"].is_string()) << text;
    EXPECT_TRUE(j["count"].is_number_integer()) << text;
  };
  for (int seed = 1; seed <= 3; ++seed) {
    const std::string openai_body =
        R"({"model":"stories","prompt":"A cat","max_tokens":150,"seed":)" + std::to_string(seed) +
        R"(,"response_format":{"type":"json_schema","json_schema":{"name":"x","schema":)" + schema + "}}}";
    auto r = c.Post("/v1/completions", openai_body, "application/json");
    ASSERT_TRUE(r);
    ASSERT_EQ(r->status, 200) << r->body;
    json j = json::parse(r->body);
    check(j["choices"][0]["text"], j["choices"][0]["finish_reason"] == "stop");
    const std::string ollama_body = R"({"model":"stories","prompt":"A dog","stream":false,"format":)" + schema +
                                    R"(,"options":{"num_predict":150,"seed":)" + std::to_string(seed) + "}}";
    auto o = c.Post("/api/generate", ollama_body, "application/json");
    ASSERT_TRUE(o);
    ASSERT_EQ(o->status, 200) << o->body;
    json oj = json::parse(o->body);
    check(oj["response"], oj["done_reason"] == "stop");
  }
}

// GET /metrics (Prometheus text): one request moves the counters by what it did.
TEST_F(ServeOpenAI, MetricsCountWhatARequestDid) {
  auto c = server_->client();
  auto value = [](const std::string& text, const std::string& name) {
    const size_t at = text.find("\n" + name + " ");
    EXPECT_NE(at, std::string::npos) << name << " in\n" << text;
    return at == std::string::npos ? -1.0 : std::stod(text.substr(at + name.size() + 2));
  };
  auto before = c.Get("/metrics");
  ASSERT_TRUE(before);
  ASSERT_EQ(before->status, 200);
  EXPECT_EQ(before->get_header_value("Content-Type"), "text/plain; version=0.0.4");
  const std::string prompt = "Tom and his dog went to the big park";
  auto r = post_json(c, "/v1/completions",
                     {{"model", "stories"}, {"prompt", prompt}, {"max_tokens", 12}, {"temperature", 0},
                      {"logit_bias", {{"2", -1e9}}}});
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  auto after = c.Get("/metrics");
  ASSERT_TRUE(after);
  const std::string& a = after->body;
  const std::string& b = before->body;
  EXPECT_EQ(value(a, "hearth_requests_total") - value(b, "hearth_requests_total"), 1);
  EXPECT_EQ(value(a, "hearth_requests_finished_total") - value(b, "hearth_requests_finished_total"), 1);
  EXPECT_EQ(value(a, "hearth_tokens_generated_total") - value(b, "hearth_tokens_generated_total"), 12);
  const double prompt_tokens = value(a, "hearth_prompt_tokens_total") - value(b, "hearth_prompt_tokens_total") +
                               value(a, "hearth_prompt_tokens_cached_total") -
                               value(b, "hearth_prompt_tokens_cached_total");
  EXPECT_EQ(prompt_tokens, static_cast<double>(model_->tokenize(prompt, true, true).size()));
  EXPECT_GT(value(a, "hearth_generation_seconds_total"), value(b, "hearth_generation_seconds_total"));
  EXPECT_EQ(value(a, "hearth_requests_active"), 0);
  EXPECT_EQ(value(a, "hearth_models_loaded"), 1);
  EXPECT_NE(a.find("hearth_model_sequences_busy{model=\"stories\"} 0"), std::string::npos) << a;
}

// ignore_eos (llama.cpp's field): with end-of-generation made the likeliest token, the reply still has max_tokens.
TEST_F(ServeOpenAI, IgnoreEos) {
  auto c = server_->client();
  json req = {{"model", "stories"}, {"prompt", "Once"}, {"max_tokens", 10}, {"logit_bias", {{"2", 100}}}};
  auto ends = post_json(c, "/v1/completions", req);
  ASSERT_TRUE(ends);
  json e = json::parse(ends->body);
  EXPECT_EQ(e["usage"]["completion_tokens"], 0) << ends->body;
  EXPECT_EQ(e["choices"][0]["finish_reason"], "stop");
  req["ignore_eos"] = true;
  auto goes_on = post_json(c, "/v1/completions", req);
  ASSERT_TRUE(goes_on);
  json g = json::parse(goes_on->body);
  EXPECT_EQ(g["usage"]["completion_tokens"], 10) << goes_on->body;
  EXPECT_EQ(g["choices"][0]["finish_reason"], "length");
}

TEST_F(ServeOpenAI, StopStringsAndSeededSampling) {
  auto c = server_->client();
  const std::string prompt = "Once upon a time";
  const std::string full = greedy_text(*model_, prompt, 60);
  const size_t cut = full.find(' ', 10);
  ASSERT_NE(cut, std::string::npos);
  const std::string stop = full.substr(cut, 4);
  auto r = post_json(c, "/v1/completions",
                     {{"model", "stories"}, {"prompt", prompt}, {"max_tokens", 60}, {"temperature", 0}, {"stop", {stop}}});
  ASSERT_EQ(r->status, 200) << r->body;
  json j = json::parse(r->body);
  EXPECT_EQ(j["choices"][0]["text"], full.substr(0, full.find(stop)));
  EXPECT_EQ(j["choices"][0]["finish_reason"], "stop");
  // Same seed, same text; sampling at temperature 1 with penalties is accepted.
  json sampled = {{"model", "stories"}, {"prompt", prompt}, {"max_tokens", 30}, {"temperature", 1.0},
                  {"top_p", 0.9}, {"seed", 42}, {"presence_penalty", 0.5}, {"frequency_penalty", 0.5}};
  auto a = post_json(c, "/v1/completions", sampled);
  auto b = post_json(c, "/v1/completions", sampled);
  ASSERT_EQ(a->status, 200) << a->body;
  EXPECT_EQ(json::parse(a->body)["choices"][0]["text"], json::parse(b->body)["choices"][0]["text"]);
}

TEST_F(ServeOpenAI, ModelsListsTheAlias) {
  auto c = server_->client();
  auto r = c.Get("/v1/models");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200);
  json j = json::parse(r->body);
  EXPECT_EQ(j["object"], "list");
  ASSERT_EQ(j["data"].size(), 1u);
  EXPECT_EQ(j["data"][0]["id"], "stories");
  EXPECT_EQ(j["data"][0]["object"], "model");
}

}  // namespace
}  // namespace hearth::test
#else
TEST(ServeOpenAI, NeedsHttp) { GTEST_SKIP() << "built without cpp-httplib"; }
#endif

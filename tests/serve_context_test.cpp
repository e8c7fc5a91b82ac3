// Prompts longer than the context over HTTP: a 400 naming the numbers (both APIs), truncation only when asked
// (keeping BOS and the latest tokens, and saying how many were dropped), and the sampling fields of both APIs
// honoured (seed, stop, top_p, presence/frequency penalties; checked against generate() here) or refused when
// mistyped.
#include <gtest/gtest.h>

#include "serve_test_util.h"

namespace hearth {
namespace {

using namespace test;

class ServeContext : public SharedStoriesServer<ServeContext, 2> {};

std::string long_prompt() {
  std::string p;
  for (int i = 0; i < 60; ++i) p += "Once upon a time there was a cat. ";
  return p;
}

// What generate() gives for tokens with sampling parameters sp.
std::string reference_text(Model& model, const std::vector<int32_t>& tokens, int n, const SamplerParams& sp,
                           const std::vector<std::string>& stop = {}) {
  SessionParams ssp;
  ssp.n_ctx = 256;
  Session s(model, ssp);
  GenerateParams g;
  g.n_predict = n;
  g.sampling = sp;
  g.stop = stop;
  std::string out;
  generate(s, tokens, g, [&](const std::string& t) {
    out += t;
    return true;
  });
  return out;
}

SamplerParams greedy() {
  SamplerParams sp;
  sp.temperature = 0;
  return sp;
}

TEST_F(ServeContext, TooLongPromptIs400WithTheNumbers) {
  auto c = server_->client();
  const size_t n = model_->tokenize(long_prompt(), true, true).size();
  ASSERT_GT(n, 256u);
  auto r = post_json(c, "/v1/completions", {{"model", "stories"}, {"prompt", long_prompt()}, {"max_tokens", 5}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
  json e = json::parse(r->body)["error"];
  EXPECT_EQ(e["code"], "context_length_exceeded");
  const std::string msg = e["message"];
  EXPECT_NE(msg.find(std::to_string(n) + " tokens"), std::string::npos) << msg;
  EXPECT_NE(msg.find("256"), std::string::npos) << msg;
  // Ollama: the chat-formatted prompt is counted.
  const size_t n_chat = model_->tokenize_chat({{"user", long_prompt()}}, true).size();
  r = post_json(c, "/api/generate", {{"model", "stories"}, {"prompt", long_prompt()}, {"stream", false}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
  EXPECT_NE(json::parse(r->body)["error"].get<std::string>().find(std::to_string(n_chat) + " tokens"),
            std::string::npos)
      << r->body;
  // A short prompt with max_tokens beyond the context (OpenAI's rule).
  r = post_json(c, "/v1/completions", {{"model", "stories"}, {"prompt", "Once"}, {"max_tokens", 1000}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
  EXPECT_NE(r->body.find("max_tokens asks for 1000"), std::string::npos) << r->body;
}

TEST_F(ServeContext, TruncationOnlyWhenAskedKeepsBosAndTheLatestTokens) {
  auto c = server_->client();
  const std::vector<int32_t> full = model_->tokenize(long_prompt(), true, true);
  auto r = post_json(c, "/v1/completions",
                     {{"model", "stories"}, {"prompt", long_prompt()}, {"max_tokens", 8}, {"temperature", 0},
                      {"truncate", true}});
  ASSERT_TRUE(r && r->status == 200) << (r ? r->body : "");
  const json j = json::parse(r->body);
  const int kept = j["usage"]["prompt_tokens"];
  const int dropped = j["usage"]["truncated_tokens"];
  EXPECT_EQ(kept + dropped, static_cast<int>(full.size()));
  EXPECT_EQ(kept, 256 - 8);  // room left for max_tokens
  // The prompt the model saw: BOS, then the last kept-1 tokens. Its greedy text is the reference.
  ASSERT_EQ(full[0], model_->bos());
  std::vector<int32_t> kept_tokens = {full[0]};
  kept_tokens.insert(kept_tokens.end(), full.end() - (kept - 1), full.end());
  EXPECT_EQ(j["choices"][0]["text"].get<std::string>(), reference_text(*model_, kept_tokens, 8, greedy()));
  // Ollama's truncate, with a system prompt that stays.
  r = post_json(c, "/api/chat",
                {{"model", "stories"},
                 {"messages", {{{"role", "system"}, {"content", "Tell a story."}}, {{"role", "user"}, {"content", long_prompt()}}}},
                 {"stream", false},
                 {"truncate", true},
                 {"options", {{"num_predict", 4}, {"temperature", 0}}}});
  ASSERT_TRUE(r && r->status == 200) << (r ? r->body : "");
  const json o = json::parse(r->body);
  const size_t n_chat =
      model_->tokenize_chat({{"system", "Tell a story."}, {"user", long_prompt()}}, true).size();
  EXPECT_GT(o["truncated_tokens"].get<int>(), 0);
  EXPECT_EQ(o["prompt_eval_count"].get<size_t>() + o["truncated_tokens"].get<size_t>(), n_chat);
  // Without truncate, the usage has no truncated_tokens.
  r = post_json(c, "/v1/completions", {{"model", "stories"}, {"prompt", "Once"}, {"max_tokens", 2}});
  ASSERT_TRUE(r && r->status == 200);
  EXPECT_FALSE(json::parse(r->body)["usage"].contains("truncated_tokens"));
}

TEST_F(ServeContext, SamplingFieldsAreHonouredInBothApis) {
  auto c = server_->client();
  const std::string prompt = "Once upon a time";
  const std::vector<int32_t> tokens = model_->tokenize(prompt, true, true);
  // seed: the same seed gives the same sampled text, which is generate()'s with that seed.
  SamplerParams seeded;
  seeded.temperature = 1.0f;
  seeded.seed = 1234;
  const std::string want_seeded = reference_text(*model_, tokens, 20, seeded);
  for (int i = 0; i < 2; ++i) {
    auto r = post_json(c, "/v1/completions",
                       {{"model", "stories"}, {"prompt", prompt}, {"max_tokens", 20}, {"temperature", 1.0}, {"seed", 1234}});
    ASSERT_TRUE(r && r->status == 200);
    EXPECT_EQ(json::parse(r->body)["choices"][0]["text"], want_seeded);
  }
  auto r = post_json(c, "/api/generate",
                     {{"model", "stories"}, {"prompt", prompt}, {"raw", true}, {"stream", false},
                      {"options", {{"num_predict", 20}, {"temperature", 1.0}, {"seed", 1234}}}});
  ASSERT_TRUE(r && r->status == 200);
  EXPECT_EQ(json::parse(r->body)["response"], want_seeded);
  // presence and frequency penalties change the distribution: generate() with the same values is the reference.
  SamplerParams pen = greedy();
  pen.presence_penalty = 1.5f;
  pen.frequency_penalty = 1.0f;
  const std::string want_pen = reference_text(*model_, tokens, 40, pen);
  r = post_json(c, "/v1/completions",
                {{"model", "stories"}, {"prompt", prompt}, {"max_tokens", 40}, {"temperature", 0},
                 {"presence_penalty", 1.5}, {"frequency_penalty", 1.0}});
  ASSERT_TRUE(r && r->status == 200);
  EXPECT_EQ(json::parse(r->body)["choices"][0]["text"], want_pen);
  r = post_json(c, "/api/generate",
                {{"model", "stories"}, {"prompt", prompt}, {"raw", true}, {"stream", false},
                 {"options", {{"num_predict", 40}, {"temperature", 0}, {"presence_penalty", 1.5},
                              {"frequency_penalty", 1.0}}}});
  ASSERT_TRUE(r && r->status == 200);
  EXPECT_EQ(json::parse(r->body)["response"], want_pen);
  // top_p near 0 keeps only the most likely token: the greedy text even at a high temperature.
  const std::string want_greedy = reference_text(*model_, tokens, 20, greedy());
  r = post_json(c, "/v1/completions",
                {{"model", "stories"}, {"prompt", prompt}, {"max_tokens", 20}, {"temperature", 1.5}, {"top_p", 0.0001}});
  ASSERT_TRUE(r && r->status == 200);
  EXPECT_EQ(json::parse(r->body)["choices"][0]["text"], want_greedy);
  r = post_json(c, "/api/generate",
                {{"model", "stories"}, {"prompt", prompt}, {"raw", true}, {"stream", false},
                 {"options", {{"num_predict", 20}, {"temperature", 1.5}, {"top_p", 0.0001}}}});
  ASSERT_TRUE(r && r->status == 200);
  EXPECT_EQ(json::parse(r->body)["response"], want_greedy);
  // stop in Ollama's options: the text ends before the stop string.
  const std::string stop = want_greedy.substr(want_greedy.size() / 2, 4);
  const std::string want_stop = reference_text(*model_, tokens, 20, greedy(), {stop});
  ASSERT_LT(want_stop.size(), want_greedy.size());
  r = post_json(c, "/api/generate",
                {{"model", "stories"}, {"prompt", prompt}, {"raw", true}, {"stream", false},
                 {"options", {{"num_predict", 20}, {"temperature", 0}, {"stop", {stop}}}}});
  ASSERT_TRUE(r && r->status == 200);
  EXPECT_EQ(json::parse(r->body)["response"], want_stop);
}

TEST_F(ServeContext, MistypedSamplingFieldsAre400) {
  auto c = server_->client();
  for (const char* key : {"seed", "stop", "presence_penalty", "frequency_penalty", "top_p", "truncate"}) {
    const json bad = std::string(key) == "stop" ? json(5) : json("x");
    json openai = {{"model", "stories"}, {"prompt", "a"}, {"max_tokens", 2}, {key, bad}};
    auto r = post_json(c, "/v1/completions", openai);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 400) << key << " " << r->body;
    EXPECT_NE(r->body.find(key), std::string::npos) << r->body;
    json ollama = {{"model", "stories"}, {"prompt", "a"}, {"stream", false}};
    if (std::string(key) == "truncate") ollama[key] = bad;
    else ollama["options"] = {{key, bad}, {"num_predict", 2}};
    r = post_json(c, "/api/generate", ollama);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 400) << key << " " << r->body;
  }
}

}  // namespace
}  // namespace hearth

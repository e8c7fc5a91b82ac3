// OpenAI logprobs over HTTP (chat: logprobs + top_logprobs; completions: logprobs N), streamed and whole,
// checked against the model's own log-softmax computed here from a Session's logits.
#include <gtest/gtest.h>

#include <cmath>

#include "runtime/logprobs.h"
#include "serve_test_util.h"

namespace hearth {
namespace {

using namespace test;

class ServeLogprobs : public SharedStoriesServer<ServeLogprobs> {};

// The log-probability of each token of `generated` after `prompt`, and the top-1, from the model here.
std::vector<TokenLogprob> reference_logprobs(Model& model, const std::vector<int32_t>& prompt,
                                             const std::vector<int32_t>& generated) {
  SessionParams sp;
  sp.n_ctx = 256;
  Session s(model, sp);
  std::vector<TokenLogprob> out;
  std::vector<float> work;
  const int n_vocab = model.info().n_vocab;
  const float* logits = s.decode(prompt);
  for (int32_t tok : generated) {
    out.push_back(token_logprob(logits, n_vocab, tok, 1, work));
    logits = s.decode(std::vector<int32_t>{tok});
  }
  return out;
}

// n tokens generated greedily after prompt, here in the test.
GenerateStats greedy_generate(Model& model, const std::vector<int32_t>& prompt, int n) {
  SessionParams sp;
  sp.n_ctx = 256;
  Session s(model, sp);
  GenerateParams g;
  g.n_predict = n;
  g.sampling.temperature = 0;
  return generate(s, prompt, g, [](const std::string&) { return true; });
}

void check_chat_entries(const json& content, int top_n) {
  for (const json& e : content) {
    ASSERT_TRUE(e["token"].is_string());
    ASSERT_TRUE(e["bytes"].is_array());
    const double lp = e["logprob"];
    EXPECT_LE(lp, 0.0);
    ASSERT_EQ(e["top_logprobs"].size(), static_cast<size_t>(top_n));
    for (size_t k = 1; k < e["top_logprobs"].size(); ++k)
      EXPECT_GE(e["top_logprobs"][k - 1]["logprob"].get<double>(), e["top_logprobs"][k]["logprob"].get<double>());
    // Greedy: the chosen token is the most likely one.
    if (top_n > 0) {
      EXPECT_EQ(e["top_logprobs"][0]["token"], e["token"]);
      EXPECT_DOUBLE_EQ(e["top_logprobs"][0]["logprob"].get<double>(), lp);
    }
  }
}

TEST_F(ServeLogprobs, ChatWholeMatchesTheModelsDistribution) {
  auto c = server_->client();
  const json messages = {{{"role", "user"}, {"content", "Once upon a time"}}};
  auto r = post_json(c, "/v1/chat/completions",
                     {{"model", "stories"}, {"messages", messages}, {"max_tokens", 12}, {"temperature", 0},
                      {"logprobs", true}, {"top_logprobs", 5}});
  ASSERT_TRUE(r && r->status == 200) << (r ? r->body : "");
  const json j = json::parse(r->body);
  const json& content = j["choices"][0]["logprobs"]["content"];
  ASSERT_EQ(content.size(), j["usage"]["completion_tokens"].get<size_t>());
  check_chat_entries(content, 5);
  std::string joined;
  for (const json& e : content) joined += e["token"].get<std::string>();
  EXPECT_EQ(joined, j["choices"][0]["message"]["content"].get<std::string>());
  // The values are the model's log-softmax: generate greedily here and recompute them.
  const std::vector<ChatMessage> m = {{"user", "Once upon a time"}};
  const std::vector<int32_t> prompt = model_->tokenize_chat(m, true);
  const GenerateStats st = greedy_generate(*model_, prompt, 12);
  ASSERT_EQ(st.tokens.size(), content.size());
  const auto ref = reference_logprobs(*model_, prompt, st.tokens);
  for (size_t i = 0; i < ref.size(); ++i) {
    EXPECT_EQ(content[i]["token"].get<std::string>(), model_->token_to_piece(st.tokens[i])) << i;
    EXPECT_NEAR(content[i]["logprob"].get<double>(), ref[i].logprob, 1e-3) << i;
  }
}

TEST_F(ServeLogprobs, ChatStreamCarriesLogprobsPerChunk) {
  auto c = server_->client();
  auto r = post_json(c, "/v1/chat/completions",
                     {{"model", "stories"}, {"messages", {{{"role", "user"}, {"content", "Lily"}}}},
                      {"max_tokens", 10}, {"temperature", 0}, {"logprobs", true}, {"top_logprobs", 2},
                      {"stream", true}, {"stream_options", {{"include_usage", true}}}});
  ASSERT_TRUE(r && r->status == 200);
  bool done = false;
  size_t n = 0;
  int completion_tokens = -1;
  for (const json& ev : parse_sse(r->body, &done)) {
    if (ev.contains("usage") && ev["usage"].is_object()) completion_tokens = ev["usage"]["completion_tokens"];
    if (ev["choices"].empty()) continue;
    const json& lp = ev["choices"][0]["logprobs"];
    if (lp.is_null()) continue;
    check_chat_entries(lp["content"], 2);
    n += lp["content"].size();
  }
  EXPECT_TRUE(done);
  EXPECT_EQ(static_cast<int>(n), completion_tokens);
}

TEST_F(ServeLogprobs, CompletionsShapeWholeAndStreamed) {
  auto c = server_->client();
  const json req = {{"model", "stories"}, {"prompt", "Once upon a time"}, {"max_tokens", 15}, {"temperature", 0},
                    {"logprobs", 3}};
  auto r = post_json(c, "/v1/completions", req);
  ASSERT_TRUE(r && r->status == 200) << (r ? r->body : "");
  const json j = json::parse(r->body);
  const json& lp = j["choices"][0]["logprobs"];
  const std::string text = j["choices"][0]["text"];
  ASSERT_EQ(lp["tokens"].size(), j["usage"]["completion_tokens"].get<size_t>());
  std::string joined;
  for (size_t i = 0; i < lp["tokens"].size(); ++i) {
    EXPECT_EQ(lp["text_offset"][i].get<size_t>(), joined.size());
    joined += lp["tokens"][i].get<std::string>();
    EXPECT_LE(lp["token_logprobs"][i].get<double>(), 0.0);
    ASSERT_EQ(lp["top_logprobs"][i].size(), 3u);
    double best = -1e9;
    for (auto& [tok, v] : lp["top_logprobs"][i].items()) best = std::max(best, v.get<double>());
    EXPECT_DOUBLE_EQ(best, lp["token_logprobs"][i].get<double>());  // greedy: chosen = top-1
  }
  EXPECT_EQ(joined, text);
  // Streamed: the same tokens and values, spread over the chunks.
  json sreq = req;
  sreq["stream"] = true;
  r = post_json(c, "/v1/completions", sreq);
  ASSERT_TRUE(r && r->status == 200);
  std::vector<double> values;
  std::string streamed;
  for (const json& ev : parse_sse(r->body)) {
    streamed += ev["choices"][0]["text"].get<std::string>();
    const json& l = ev["choices"][0]["logprobs"];
    if (l.is_null()) continue;
    for (const json& v : l["token_logprobs"]) values.push_back(v);
  }
  EXPECT_EQ(streamed, text);
  ASSERT_EQ(values.size(), lp["token_logprobs"].size());
  for (size_t i = 0; i < values.size(); ++i) EXPECT_NEAR(values[i], lp["token_logprobs"][i].get<double>(), 1e-6);
}

// Ollama's API: "logprobs": true and "top_logprobs" on /api/generate and /api/chat give a top-level "logprobs" list
// of {token, logprob, bytes, top_logprobs}, whole and per streamed line, with the model's log-softmax values.
TEST_F(ServeLogprobs, OllamaGenerateAndChat) {
  auto c = server_->client();
  auto r = post_json(c, "/api/generate",
                     {{"model", "stories"}, {"prompt", "Once upon a time"}, {"raw", true}, {"stream", false},
                      {"logprobs", true}, {"top_logprobs", 3}, {"options", {{"temperature", 0}, {"num_predict", 12}}}});
  ASSERT_TRUE(r && r->status == 200) << (r ? r->body : "");
  const json j = json::parse(r->body);
  const json& lps = j["logprobs"];
  ASSERT_EQ(lps.size(), j["eval_count"].get<size_t>()) << r->body;
  check_chat_entries(lps, 3);
  std::string joined;
  for (const json& e : lps) joined += e["token"].get<std::string>();
  EXPECT_EQ(joined, j["response"].get<std::string>());
  const std::vector<int32_t> prompt = model_->tokenize("Once upon a time", true, true);
  const GenerateStats st = greedy_generate(*model_, prompt, 12);
  ASSERT_EQ(st.tokens.size(), lps.size());
  const auto ref = reference_logprobs(*model_, prompt, st.tokens);
  for (size_t i = 0; i < ref.size(); ++i) EXPECT_NEAR(lps[i]["logprob"].get<double>(), ref[i].logprob, 1e-3) << i;
  // Streamed chat: each line carries the logprobs of its own text.
  r = post_json(c, "/api/chat",
                {{"model", "stories"}, {"messages", {{{"role", "user"}, {"content", "Lily"}}}}, {"logprobs", true},
                 {"options", {{"temperature", 0}, {"num_predict", 10}}}});
  ASSERT_TRUE(r && r->status == 200);
  size_t n = 0;
  int eval_count = -1;
  std::string text, from_tokens;
  for (const json& line : parse_ndjson(r->body)) {
    ASSERT_TRUE(line.contains("logprobs")) << line.dump();
    check_chat_entries(line["logprobs"], 0);
    for (const json& e : line["logprobs"]) from_tokens += e["token"].get<std::string>();
    n += line["logprobs"].size();
    text += line["message"]["content"].get<std::string>();
    if (line["done"].get<bool>()) eval_count = line["eval_count"];
  }
  EXPECT_EQ(static_cast<int>(n), eval_count);
  EXPECT_EQ(from_tokens, text);
  // Off by default; out of range is a 400.
  r = post_json(c, "/api/generate", {{"model", "stories"}, {"prompt", "Once"}, {"stream", false}, {"options", {{"num_predict", 2}}}});
  ASSERT_TRUE(r && r->status == 200);
  EXPECT_FALSE(json::parse(r->body).contains("logprobs"));
  r = post_json(c, "/api/generate", {{"model", "stories"}, {"prompt", "Once"}, {"logprobs", true}, {"top_logprobs", 21}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400) << r->body;
}

TEST_F(ServeLogprobs, OffByDefaultAndBadValuesAre400) {
  auto c = server_->client();
  auto r = post_json(c, "/v1/completions", {{"model", "stories"}, {"prompt", "Once"}, {"max_tokens", 3}});
  ASSERT_TRUE(r && r->status == 200);
  EXPECT_TRUE(json::parse(r->body)["choices"][0]["logprobs"].is_null());
  const json msgs = {{{"role", "user"}, {"content", "hi"}}};
  for (const json& bad : {json{{"logprobs", "yes"}}, json{{"logprobs", true}, {"top_logprobs", 21}},
                          json{{"top_logprobs", 3}}, json{{"logprobs", true}, {"top_logprobs", "3"}}}) {
    json body = {{"model", "stories"}, {"messages", msgs}, {"max_tokens", 2}};
    body.update(bad);
    r = post_json(c, "/v1/chat/completions", body);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 400) << bad.dump() << " " << r->body;
  }
  for (const json& bad : {json{{"logprobs", true}}, json{{"logprobs", -1}}, json{{"logprobs", 21}}}) {
    json body = {{"model", "stories"}, {"prompt", "a"}, {"max_tokens", 2}};
    body.update(bad);
    r = post_json(c, "/v1/completions", body);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 400) << bad.dump() << " " << r->body;
  }
}

}  // namespace
}  // namespace hearth

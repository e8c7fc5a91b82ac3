// hearth serve's embedding endpoints over HTTP with stories260K: OpenAI /v1/embeddings (every input shape,
// base64, dimensions, usage), Ollama /api/embed (truncate) and the legacy /api/embeddings; the vectors are
// those hearth::embed gives (itself checked against llama.cpp in embed_test); errors are clear 4xx JSON.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <thread>

#include "hearth/embed.h"
#include "serve_test_util.h"

namespace hearth::test {
namespace {

class ServeEmbeddingsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    HEARTH_REQUIRE_FIXTURE(stories_path());
    server_ = std::make_unique<RunningServer>(stories_options(2, 64));
    model_ = load_stories_model();
  }
  std::vector<float> expected(const std::string& text, bool normalize = true) {
    EmbedParams p;
    p.normalize = normalize;
    return embed(*model_, {embed_tokenize(*model_, text)}, p)[0];
  }
  std::unique_ptr<RunningServer> server_;
  std::unique_ptr<Model> model_;
};

void expect_near(const std::vector<float>& got, const std::vector<float>& want) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) EXPECT_NEAR(got[i], want[i], 1e-6) << "component " << i;
}

std::vector<float> decode_base64_floats(const std::string& s) {
  auto val = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    return c == '+' ? 62 : c == '/' ? 63 : -1;
  };
  std::string bytes;
  uint32_t acc = 0;
  int bits = 0;
  for (char c : s) {
    int v = val(c);
    if (v < 0) break;
    acc = (acc << 6) | v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      bytes += static_cast<char>((acc >> bits) & 0xff);
    }
  }
  std::vector<float> out(bytes.size() / 4);
  std::memcpy(out.data(), bytes.data(), out.size() * 4);
  return out;
}

TEST_F(ServeEmbeddingsTest, OpenAIString) {
  auto c = server_->client();
  auto r = post_json(c, "/v1/embeddings", {{"model", "stories"}, {"input", "Once upon a time"}});
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  json j = json::parse(r->body);
  EXPECT_EQ(j["object"], "list");
  EXPECT_EQ(j["model"], "stories");
  ASSERT_EQ(j["data"].size(), 1u);
  EXPECT_EQ(j["data"][0]["object"], "embedding");
  EXPECT_EQ(j["data"][0]["index"], 0);
  expect_near(j["data"][0]["embedding"].get<std::vector<float>>(), expected("Once upon a time"));
  EXPECT_EQ(j["usage"]["prompt_tokens"], 5);  // BOS + 4 tokens
  EXPECT_EQ(j["usage"]["total_tokens"], 5);
}

TEST_F(ServeEmbeddingsTest, OpenAIInputShapes) {
  auto c = server_->client();
  const std::vector<std::string> texts = {"Once upon a time", "The cat sat on the mat.", "Lily"};
  auto r = post_json(c, "/v1/embeddings", {{"model", "stories"}, {"input", texts}});
  ASSERT_EQ(r->status, 200) << r->body;
  json j = json::parse(r->body);
  ASSERT_EQ(j["data"].size(), 3u);
  for (size_t i = 0; i < texts.size(); ++i) {
    EXPECT_EQ(j["data"][i]["index"], i);
    expect_near(j["data"][i]["embedding"].get<std::vector<float>>(), expected(texts[i]));
  }
  // Token ids: one array, or an array of arrays; the same tokens give the same vectors.
  const std::vector<int> ids = {1, 403, 407, 261, 378};
  r = post_json(c, "/v1/embeddings", {{"model", "stories"}, {"input", ids}});
  ASSERT_EQ(r->status, 200) << r->body;
  j = json::parse(r->body);
  ASSERT_EQ(j["data"].size(), 1u);
  expect_near(j["data"][0]["embedding"].get<std::vector<float>>(), expected("Once upon a time"));
  r = post_json(c, "/v1/embeddings", {{"model", "stories"}, {"input", {ids, {1, 403}}}});
  ASSERT_EQ(r->status, 200) << r->body;
  j = json::parse(r->body);
  ASSERT_EQ(j["data"].size(), 2u);
  expect_near(j["data"][0]["embedding"].get<std::vector<float>>(), expected("Once upon a time"));
  EXPECT_EQ(j["usage"]["prompt_tokens"], 7);
}

TEST_F(ServeEmbeddingsTest, OpenAIBase64AndDimensions) {
  auto c = server_->client();
  auto r = post_json(c, "/v1/embeddings",
                     {{"model", "stories"}, {"input", "Once upon a time"}, {"encoding_format", "base64"}});
  ASSERT_EQ(r->status, 200) << r->body;
  json j = json::parse(r->body);
  ASSERT_TRUE(j["data"][0]["embedding"].is_string());
  expect_near(decode_base64_floats(j["data"][0]["embedding"]), expected("Once upon a time"));

  r = post_json(c, "/v1/embeddings", {{"model", "stories"}, {"input", "Once upon a time"}, {"dimensions", 16}});
  ASSERT_EQ(r->status, 200) << r->body;
  j = json::parse(r->body);
  auto v = j["data"][0]["embedding"].get<std::vector<float>>();
  std::vector<float> want = expected("Once upon a time");
  want.resize(16);
  l2_normalize(want);
  expect_near(v, want);

  for (int bad : {0, 65, -3}) {
    r = post_json(c, "/v1/embeddings", {{"model", "stories"}, {"input", "x"}, {"dimensions", bad}});
    EXPECT_EQ(r->status, 400) << bad;
    EXPECT_NE(json::parse(r->body)["error"]["message"].get<std::string>().find("dimensions"), std::string::npos);
  }
}

TEST_F(ServeEmbeddingsTest, OpenAIErrors) {
  auto c = server_->client();
  struct Case {
    json body;
    int status;
    const char* mentions;
  };
  const std::string long_text(400, 'a');  // far more than the 64-token context of this server
  const std::vector<Case> cases = {
      {{{"model", "stories"}}, 400, "input"},
      {{{"model", "stories"}, {"input", 42.5}}, 400, "input"},
      {{{"model", "stories"}, {"input", json::object()}}, 400, "input"},
      {{{"model", "stories"}, {"input", json::array()}}, 400, "input"},
      {{{"model", "stories"}, {"input", {"a", 3}}}, 400, "input"},
      {{{"model", "stories"}, {"input", {{1, "x"}}}}, 400, "integers"},
      {{{"model", "stories"}, {"input", {1, 99999}}}, 400, "vocabulary"},
      {{{"model", "stories"}, {"input", {1, -5}}}, 400, "vocabulary"},
      {{{"model", "stories"}, {"input", "x"}, {"encoding_format", "int8"}}, 400, "encoding_format"},
      {{{"model", "stories"}, {"input", "x"}, {"dimensions", "8"}}, 400, "dimensions"},
      {{{"model", "stories"}, {"input", "x"}, {"pooling", "max"}}, 400, "pooling"},
      {{{"model", "stories"}, {"input", long_text}}, 400, "context"},
      {{{"model", 7}, {"input", "x"}}, 400, "model"},
      {{{"model", "nope"}, {"input", "x"}}, 404, "nope"},
  };
  for (const Case& k : cases) {
    auto r = post_json(c, "/v1/embeddings", k.body);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, k.status) << k.body.dump() << " -> " << r->body;
    json j = json::parse(r->body);
    ASSERT_TRUE(j["error"].is_object()) << r->body;
    EXPECT_NE(j["error"]["message"].get<std::string>().find(k.mentions), std::string::npos) << r->body;
  }
  auto r = c.Post("/v1/embeddings", "{\"model\": ", "application/json");
  EXPECT_EQ(r->status, 400);
}

TEST_F(ServeEmbeddingsTest, OllamaEmbed) {
  auto c = server_->client();
  auto r = post_json(c, "/api/embed", {{"model", "stories:latest"}, {"input", "Once upon a time"}, {"keep_alive", "5m"},
                                       {"options", {{"temperature", 0}}}});
  ASSERT_EQ(r->status, 200) << r->body;
  json j = json::parse(r->body);
  EXPECT_EQ(j["model"], "stories");
  ASSERT_EQ(j["embeddings"].size(), 1u);
  expect_near(j["embeddings"][0].get<std::vector<float>>(), expected("Once upon a time"));
  EXPECT_EQ(j["prompt_eval_count"], 5);
  EXPECT_GT(j["total_duration"].get<int64_t>(), 0);
  EXPECT_TRUE(j["load_duration"].is_number_integer());

  r = post_json(c, "/api/embed", {{"model", "stories"}, {"input", {"Lily", "The cat sat on the mat."}}});
  ASSERT_EQ(r->status, 200) << r->body;
  j = json::parse(r->body);
  ASSERT_EQ(j["embeddings"].size(), 2u);
  expect_near(j["embeddings"][1].get<std::vector<float>>(), expected("The cat sat on the mat."));

  // No input: the model is loaded and nothing is embedded.
  r = post_json(c, "/api/embed", {{"model", "stories"}});
  ASSERT_EQ(r->status, 200) << r->body;
  EXPECT_TRUE(json::parse(r->body)["embeddings"].empty());
}

TEST_F(ServeEmbeddingsTest, OllamaTruncate) {
  auto c = server_->client();
  std::string text;
  for (int i = 0; i < 40; ++i) text += "Once upon a time ";  // ~160 tokens, context 64
  const auto ids = embed_tokenize(*model_, text);
  ASSERT_GT(ids.size(), 64u);
  // Default (truncate true, as Ollama): the first 64 tokens are embedded.
  auto r = post_json(c, "/api/embed", {{"model", "stories"}, {"input", text}});
  ASSERT_EQ(r->status, 200) << r->body;
  json j = json::parse(r->body);
  EXPECT_EQ(j["prompt_eval_count"], 64);
  expect_near(j["embeddings"][0].get<std::vector<float>>(),
              embed(*model_, {std::vector<int32_t>(ids.begin(), ids.begin() + 64)})[0]);
  // truncate false: a clear 400, never a silent cut.
  r = post_json(c, "/api/embed", {{"model", "stories"}, {"input", text}, {"truncate", false}});
  EXPECT_EQ(r->status, 400);
  EXPECT_NE(json::parse(r->body)["error"].get<std::string>().find("context"), std::string::npos) << r->body;
}

TEST_F(ServeEmbeddingsTest, OllamaErrors) {
  auto c = server_->client();
  const std::vector<std::pair<json, int>> cases = {
      {{{"model", "stories"}, {"input", 5}}, 400},
      {{{"model", "stories"}, {"input", {"a", 5}}}, 400},
      {{{"model", "stories"}, {"input", "a"}, {"truncate", "yes"}}, 400},
      {{{"model", "stories"}, {"input", "a"}, {"keep_alive", json::array()}}, 400},
      {{{"model", "stories"}, {"input", "a"}, {"options", 3}}, 400},
      {{{"input", "a"}}, 400},
      {{{"model", "missing"}, {"input", "a"}}, 404},
  };
  for (const auto& [body, status] : cases) {
    auto r = post_json(c, "/api/embed", body);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, status) << body.dump() << " -> " << r->body;
    EXPECT_TRUE(json::parse(r->body)["error"].is_string()) << r->body;
  }
  auto r = post_json(c, "/api/embeddings", {{"model", "missing"}, {"prompt", "a"}});
  EXPECT_EQ(r->status, 404);
  r = post_json(c, "/api/embeddings", {{"model", "stories"}, {"prompt", 3}});
  EXPECT_EQ(r->status, 400);
}

TEST_F(ServeEmbeddingsTest, OllamaLegacyEmbeddings) {
  auto c = server_->client();
  auto r = post_json(c, "/api/embeddings", {{"model", "stories"}, {"prompt", "Once upon a time"}});
  ASSERT_EQ(r->status, 200) << r->body;
  json j = json::parse(r->body);
  // Not normalized, as Ollama's legacy endpoint.
  expect_near(j["embedding"].get<std::vector<float>>(), expected("Once upon a time", false));
  r = post_json(c, "/api/embeddings", {{"model", "stories"}, {"prompt", ""}});
  ASSERT_EQ(r->status, 200) << r->body;
  EXPECT_TRUE(json::parse(r->body)["embedding"].empty());
}

TEST_F(ServeEmbeddingsTest, EmbeddingsDoNotDisturbGenerations) {
  // Streams generating greedily while other clients embed: each stream gets the text it gets alone.
  const std::string want = greedy_text(*model_, "Once upon a time", 30, 64);
  std::vector<std::string> got(2);
  std::vector<std::thread> gens;
  for (int g = 0; g < 2; ++g)
    gens.emplace_back([&, g] {
      auto c = server_->client();
      auto r = post_json(c, "/v1/completions", {{"model", "stories"}, {"prompt", "Once upon a time"},
                                                 {"max_tokens", 30}, {"temperature", 0}});
      if (r && r->status == 200) got[g] = json::parse(r->body)["choices"][0]["text"];
    });
  std::thread emb([&] {
    auto c = server_->client();
    for (int i = 0; i < 10; ++i) {
      auto r = post_json(c, "/v1/embeddings", {{"model", "stories"}, {"input", {"Once upon a time", "Lily"}}});
      ASSERT_EQ(r->status, 200);
      expect_near(json::parse(r->body)["data"][0]["embedding"].get<std::vector<float>>(), expected("Once upon a time"));
    }
  });
  for (auto& t : gens) t.join();
  emb.join();
  for (const std::string& s : got) EXPECT_EQ(s, want);
}

}  // namespace
}  // namespace hearth::test

// hearth serve: bad requests get clear JSON errors in the style of the API called (OpenAI:
// {"error": {"message", "type", "code"}}, Ollama: {"error": "..."}) and the right 4xx status; the
// server keeps serving after every one of them.
#include <gtest/gtest.h>

#ifdef HEARTH_HAVE_HTTP
#include "serve_test_util.h"

namespace hearth::test {
namespace {

// The OpenAI error message of a response with the expected status.
std::string openai_error(const httplib::Result& r, int status) {
  EXPECT_TRUE(r);
  if (!r) return "";
  EXPECT_EQ(r->status, status) << r->body;
  json j = json::parse(r->body, nullptr, false);
  EXPECT_TRUE(j.is_object() && j.contains("error") && j["error"].is_object()) << r->body;
  if (!j.is_object() || !j["error"].is_object()) return "";
  EXPECT_TRUE(j["error"]["type"].is_string());
  EXPECT_TRUE(j["error"].contains("code"));
  return j["error"]["message"].get<std::string>();
}

std::string ollama_error(const httplib::Result& r, int status) {
  EXPECT_TRUE(r);
  if (!r) return "";
  EXPECT_EQ(r->status, status) << r->body;
  json j = json::parse(r->body, nullptr, false);
  EXPECT_TRUE(j.is_object() && j["error"].is_string()) << r->body;
  return j.is_object() && j["error"].is_string() ? j["error"].get<std::string>() : "";
}

class ServeErrors : public ::testing::Test {
 protected:
  void SetUp() override { HEARTH_REQUIRE_FIXTURE(stories_path()); }
};

TEST_F(ServeErrors, MalformedAndWronglyTypedRequests) {
  ServerOptions o = stories_options(2, 64);
  o.max_body_bytes = 1 << 20;
  RunningServer s(o);
  auto c = s.client();
  EXPECT_NE(openai_error(c.Post("/v1/completions", "{\"model\": \"stories\", ", "application/json"), 400)
                .find("malformed JSON"),
            std::string::npos);
  EXPECT_NE(ollama_error(c.Post("/api/generate", "not json", "application/json"), 400).find("malformed JSON"),
            std::string::npos);
  EXPECT_NE(openai_error(c.Post("/v1/completions", "[1, 2]", "application/json"), 400).find("JSON object"),
            std::string::npos);
  EXPECT_NE(openai_error(post_json(c, "/v1/completions", {{"model", "stories"}}), 400).find("'prompt'"),
            std::string::npos);
  EXPECT_NE(openai_error(post_json(c, "/v1/chat/completions", {{"messages", json::array()}}), 400).find("'model'"),
            std::string::npos);
  EXPECT_NE(openai_error(post_json(c, "/v1/completions", {{"model", "stories"}, {"prompt", "a"}, {"max_tokens", "ten"}}),
                         400)
                .find("'max_tokens' must be an integer"),
            std::string::npos);
  EXPECT_NE(openai_error(post_json(c, "/v1/completions", {{"model", "stories"}, {"prompt", "a"}, {"temperature", "hot"}}),
                         400)
                .find("'temperature' must be a number"),
            std::string::npos);
  EXPECT_NE(openai_error(post_json(c, "/v1/completions", {{"model", "stories"}, {"prompt", "a"}, {"temperature", 7}}), 400)
                .find("between"),
            std::string::npos);
  EXPECT_NE(openai_error(post_json(c, "/v1/completions", {{"model", "stories"}, {"prompt", "a"}, {"stream", "yes"}}), 400)
                .find("'stream' must be a boolean"),
            std::string::npos);
  EXPECT_NE(openai_error(post_json(c, "/v1/completions", {{"model", "stories"}, {"prompt", 5}}), 400).find("'prompt'"),
            std::string::npos);
  // A message without content is an empty message: fine.
  auto empty = post_json(c, "/v1/chat/completions",
                         {{"model", "stories"}, {"messages", {{{"role", "user"}}}}, {"max_tokens", 2}});
  ASSERT_TRUE(empty);
  EXPECT_EQ(empty->status, 200) << empty->body;
  EXPECT_NE(openai_error(post_json(c, "/v1/chat/completions",
                                   {{"model", "stories"}, {"messages", {{{"role", "wizard"}, {"content", "x"}}}}}),
                         400)
                .find("messages[0].role"),
            std::string::npos);
  EXPECT_NE(ollama_error(post_json(c, "/api/chat", {{"model", "stories"}, {"messages", "hello"}}), 400)
                .find("'messages' must be an array"),
            std::string::npos);
  EXPECT_NE(ollama_error(post_json(c, "/api/generate",
                                   {{"model", "stories"}, {"prompt", "a"}, {"options", {{"num_predict", "many"}}}}),
                         400)
                .find("'num_predict' must be an integer"),
            std::string::npos);
  // Still serving.
  auto ok = post_json(c, "/v1/completions", {{"model", "stories"}, {"prompt", "a"}, {"max_tokens", 3}});
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->status, 200);
}

TEST_F(ServeErrors, UnknownModelRouteAndNotImplemented) {
  RunningServer s(stories_options(1, 64));
  auto c = s.client();
  EXPECT_NE(openai_error(post_json(c, "/v1/completions", {{"model", "gpt-4"}, {"prompt", "a"}}), 404).find("gpt-4"),
            std::string::npos);
  EXPECT_NE(ollama_error(post_json(c, "/api/chat", {{"model", "llama3"}, {"messages", {{{"role", "user"}, {"content", "x"}}}}}),
                         404)
                .find("llama3"),
            std::string::npos);
  EXPECT_NE(openai_error(c.Get("/v1/nothing"), 404).find("/v1/nothing"), std::string::npos);
  EXPECT_NE(ollama_error(c.Get("/api/nothing"), 404).find("/api/nothing"), std::string::npos);
  ollama_error(post_json(c, "/api/push", {{"model", "stories"}}), 501);  // no registry to push to
  EXPECT_NE(openai_error(post_json(c, "/v1/embeddings", {{"model", "nomodel"}, {"input", "x"}}), 404).find("nomodel"),
            std::string::npos);
  // No Ollama registry here: /api/pull takes a URL or hf: source (serve_store_test).
  ollama_error(post_json(c, "/api/pull", {{"model", "stories"}}), 400);
  // Structured output: schemas outside the supported subset, and malformed requests.
  const json schema = {{"anyOf", {{{"type", "string"}}, {{"type", "null"}}}}};
  EXPECT_NE(openai_error(post_json(c, "/v1/completions",
                                   {{"model", "stories"}, {"prompt", "a"},
                                    {"response_format", {{"type", "json_schema"}, {"json_schema", {{"schema", schema}}}}}}),
                         400)
                .find("'anyOf' at $ is not supported"),
            std::string::npos);
  EXPECT_NE(openai_error(post_json(c, "/v1/completions",
                                   {{"model", "stories"}, {"prompt", "a"}, {"response_format", {{"type", "json_schema"}}}}),
                         400)
                .find("'schema'"),
            std::string::npos);
  EXPECT_NE(openai_error(post_json(c, "/v1/completions",
                                   {{"model", "stories"}, {"prompt", "a"}, {"response_format", {{"type", "yaml"}}}}),
                         400)
                .find("'yaml'"),
            std::string::npos);
  EXPECT_NE(ollama_error(post_json(c, "/api/generate", {{"model", "stories"}, {"prompt", "a"}, {"format", schema}}), 400)
                .find("'anyOf'"),
            std::string::npos);
  EXPECT_NE(ollama_error(post_json(c, "/api/generate", {{"model", "stories"}, {"prompt", "a"}, {"format", "xml"}}), 400)
                .find("'format'"),
            std::string::npos);
}

TEST_F(ServeErrors, OversizedBodyIs413) {
  ServerOptions o = stories_options(1, 64);
  o.max_body_bytes = 4096;
  RunningServer s(o);
  auto c = s.client();
  const std::string big = json{{"model", "stories"}, {"prompt", std::string(10000, 'a')}}.dump();
  EXPECT_NE(openai_error(c.Post("/v1/completions", big, "application/json"), 413).find("4096"), std::string::npos);
  EXPECT_NE(ollama_error(c.Post("/api/generate", big, "application/json"), 413).find("limit"), std::string::npos);
}

TEST_F(ServeErrors, PromptLongerThanTheContextIs400WithTheNumbers) {
  RunningServer s(stories_options(1, 64));
  auto c = s.client();
  std::string prompt;
  for (int i = 0; i < 100; ++i) prompt += "the cat sat on the mat. ";
  const std::string msg = openai_error(post_json(c, "/v1/completions", {{"model", "stories"}, {"prompt", prompt}}), 400);
  EXPECT_NE(msg.find("context of 64 tokens"), std::string::npos) << msg;
  const std::string m2 = ollama_error(post_json(c, "/api/generate", {{"model", "stories"}, {"prompt", prompt}, {"raw", true}}), 400);
  EXPECT_NE(m2.find("64"), std::string::npos) << m2;
  EXPECT_EQ(s.server->counters().requests, 0u);  // refused before anything was generated
}

TEST_F(ServeErrors, ApiKey) {
  ServerOptions o = stories_options(1, 64);
  o.api_key = "sesame";
  RunningServer s(o);
  auto c = s.client();
  const json req = {{"model", "stories"}, {"prompt", "a"}, {"max_tokens", 2}};
  EXPECT_NE(openai_error(post_json(c, "/v1/completions", req), 401).find("missing API key"), std::string::npos);
  c.set_bearer_token_auth("wrong");
  EXPECT_NE(openai_error(post_json(c, "/v1/completions", req), 401).find("invalid API key"), std::string::npos);
  ollama_error(c.Get("/api/tags"), 401);
  auto metrics = c.Get("/metrics");  // the counters are not public either
  ASSERT_TRUE(metrics);
  EXPECT_EQ(metrics->status, 401);
  c.set_bearer_token_auth("sesame");
  auto ok = post_json(c, "/v1/completions", req);
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->status, 200) << ok->body;
  EXPECT_EQ(c.Get("/api/tags")->status, 200);
  EXPECT_EQ(c.Get("/metrics")->status, 200);
}

TEST_F(ServeErrors, BadServerOptionsThrow) {
  ServerOptions o = stories_options();
  o.model_path = "/nonexistent/model.gguf";
  EXPECT_THROW(Server{o}, Error);
  o = stories_options();
  o.parallel = 0;
  EXPECT_THROW(Server{o}, Error);
  o = ServerOptions{};
  EXPECT_THROW(Server{o}, Error);
}

TEST_F(ServeErrors, PortInUseIsAnError) {
  RunningServer first(stories_options(1, 64));
  ServerOptions o = stories_options(1, 64);
  o.port = first.port;
  Server second(o);
  EXPECT_THROW(second.bind(), Error);
}

}  // namespace
}  // namespace hearth::test
#else
TEST(ServeErrors, NeedsHttp) { GTEST_SKIP() << "built without cpp-httplib"; }
#endif

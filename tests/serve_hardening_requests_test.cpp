// hearth serve against hostile and unlucky request bodies (issue 15): JSON nested 100,000 deep, schemas too big
// to compile cheaply, integers that wrapped, penalties that overflowed, a logit_bias that leaves the sampler no
// token. Each gets a clear 4xx naming the field and the limit, or ends only its own request with an error; the
// server keeps answering. Bodies are written as text: nlohmann's dump() is itself recursive.
#include <gtest/gtest.h>

#ifdef HEARTH_HAVE_HTTP
#include <filesystem>
#include <future>
#include <limits>

#include "hearth/store.h"
#include "serve_test_util.h"

namespace hearth::test {
namespace {

class ServeHardeningRequests : public SharedStoriesServer<ServeHardeningRequests> {
 protected:
  httplib::Client client() { return server_->client(); }
  void expect_alive() {
    auto c = client();
    auto r = c.Get("/health");
    ASSERT_TRUE(r) << "the server is gone";
    EXPECT_EQ(r->status, 200);
  }
};

// The error message of a JSON error body (OpenAI's {"error": {"message"}} or Ollama's {"error": "..."}), after
// checking the status.
std::string error_of(const httplib::Result& r, int status) {
  EXPECT_TRUE(r) << "no response (did the server crash?)";
  if (!r) return "";
  EXPECT_EQ(r->status, status) << r->body.substr(0, 400);
  const json j = json::parse(r->body, nullptr, false);
  if (!j.is_object() || !j.contains("error")) {
    ADD_FAILURE() << "not an error body: " << r->body.substr(0, 400);
    return "";
  }
  return j["error"].is_string() ? j["error"].get<std::string>() : j["error"].value("message", "");
}

httplib::Result post_text(httplib::Client& c, const std::string& path, const std::string& body) {
  return c.Post(path.c_str(), body, "application/json");
}

// A schema of n nested object levels: {"type":"object","properties":{"a": ... {} ...}}.
std::string nested_schema(int n) {
  std::string s;
  s.reserve(static_cast<size_t>(n) * 40);
  for (int i = 0; i < n; ++i) s += R"({"type":"object","properties":{"a":)";
  s += "{}";
  for (int i = 0; i < n; ++i) s += "}}";
  return s;
}

std::string wide_schema(int n) {
  std::string s = R"({"type":"object","properties":{)";
  for (int i = 0; i < n; ++i) s += (i ? ",\"p" : "\"p") + std::to_string(i) + R"(":{"type":"integer"})";
  return s + "}}";
}

std::string openai_with_schema(const std::string& schema) {
  return R"({"model":"stories","messages":[{"role":"user","content":"hi"}],"max_tokens":4,)"
         R"("response_format":{"type":"json_schema","json_schema":{"name":"x","schema":)" +
         schema + "}}}";
}

std::string ollama_with_schema(const std::string& schema) {
  return R"({"model":"stories","prompt":"hi","stream":false,"options":{"num_predict":4},"format":)" + schema + "}";
}

// Item 1: a schema nested 100,000 levels killed the server (a recursive dump of the schema). Bodies nest at most
// 128 levels; a schema within that but deeper than 64 is refused naming the schema limit.
TEST_F(ServeHardeningRequests, DeeplyNestedSchemasAreRefusedAndTheServerLives) {
  auto c = client();
  const std::string deep = nested_schema(100000);
  EXPECT_NE(error_of(post_text(c, "/v1/chat/completions", openai_with_schema(deep)), 400).find("128"),
            std::string::npos);
  expect_alive();
  EXPECT_NE(error_of(post_text(c, "/api/generate", ollama_with_schema(deep)), 400).find("128"), std::string::npos);
  expect_alive();
  // 40 schema levels: 80 JSON levels in the schema, within the body's limit, beyond the schema's.
  const std::string forty = nested_schema(40);
  const std::string m1 = error_of(post_text(c, "/v1/chat/completions", openai_with_schema(forty)), 400);
  EXPECT_NE(m1.find("'response_format'"), std::string::npos) << m1;
  EXPECT_NE(m1.find("deeper than 64"), std::string::npos) << m1;
  const std::string m2 = error_of(post_text(c, "/api/chat", R"({"model":"stories","messages":[{"role":"user",)"
                                                            R"("content":"hi"}],"stream":false,"format":)" +
                                                                forty + "}"),
                                  400);
  EXPECT_NE(m2.find("'format'"), std::string::npos) << m2;
  EXPECT_NE(m2.find("deeper than 64"), std::string::npos) << m2;
  // Deep JSON anywhere in a body, not only in a schema.
  const std::string deep_array = std::string(100000, '[') + std::string(100000, ']');
  EXPECT_NE(error_of(post_text(c, "/v1/completions", R"({"model":"stories","prompt":"a","metadata":)" + deep_array + "}"),
                     400)
                .find("deeper than 128"),
            std::string::npos);
  expect_alive();
}

// Item 9: a 50,000-property schema took 9 s of CPU; it is refused by its size, naming the limit.
TEST_F(ServeHardeningRequests, HugeSchemasAreRefusedNamingTheLimit) {
  auto c = client();
  const std::string wide = wide_schema(50000);
  const std::string m1 = error_of(post_text(c, "/v1/chat/completions", openai_with_schema(wide)), 400);
  EXPECT_NE(m1.find("more than 1000"), std::string::npos) << m1;
  const std::string m2 = error_of(post_text(c, "/api/generate", ollama_with_schema(wide)), 400);
  EXPECT_NE(m2.find("more than 1000"), std::string::npos) << m2;
  // A body with a large object outside the schema is parsed without keeping that object's order (it was part
  // of the quadratic cost); the schema still works.
  std::string bias = "{";
  for (int i = 0; i < 400; ++i) bias += (i ? ",\"" : "\"") + std::to_string(i) + "\":0";
  bias += "}";
  const std::string ok = R"({"model":"stories","prompt":"hi","stream":false,"options":{"num_predict":4},)"
                         R"("logit_bias":)" + bias + R"(,"format":{"type":"object","properties":{"a":{"type":"integer"}}}})";
  auto r = post_text(c, "/api/generate", ok);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200) << r->body;
  expect_alive();
}

// Item 9: integers are range-checked (top_k 4294967297 was read as 1), not wrapped.
TEST_F(ServeHardeningRequests, IntegersOutOfRangeAre400NamingTheRange) {
  auto c = client();
  const std::string m1 = error_of(post_text(c, "/v1/completions",
                                            R"({"model":"stories","prompt":"a","max_tokens":2,"top_k":4294967297})"),
                                  400);
  EXPECT_NE(m1.find("'top_k' must be an integer between -1 and 2147483647"), std::string::npos) << m1;
  const std::string m2 = error_of(
      post_text(c, "/api/generate",
                R"({"model":"stories","prompt":"a","stream":false,"options":{"num_predict":2,"top_k":4294967297}})"),
      400);
  EXPECT_NE(m2.find("'top_k' must be an integer between"), std::string::npos) << m2;
  // 2^64-1 was read as -1 (unlimited).
  const std::string m3 = error_of(
      post_text(c, "/v1/completions", R"({"model":"stories","prompt":"a","max_tokens":18446744073709551615})"), 400);
  EXPECT_NE(m3.find("'max_tokens'"), std::string::npos) << m3;
  for (const char* field : {"repeat_last_n", "num_predict"}) {
    const std::string m = error_of(post_text(c, "/api/generate",
                                             std::string(R"({"model":"stories","prompt":"a","stream":false,"options":{")") +
                                                 field + R"(":-9223372036854775808}})"),
                                   400);
    EXPECT_NE(m.find(field), std::string::npos) << m;
  }
  const std::string m4 = error_of(
      post_text(c, "/api/generate", R"({"model":"stories","prompt":"a","stream":false,"options":{"seed":-5}})"), 400);
  EXPECT_NE(m4.find("'seed'"), std::string::npos) << m4;
  // A number beyond double's range is a malformed body, not a 500.
  const std::string m5 =
      error_of(post_text(c, "/v1/completions", R"({"model":"stories","prompt":"a","temperature":1e400})"), 400);
  EXPECT_NE(m5.find("malformed JSON"), std::string::npos) << m5;
  // The largest seeds and -1 (random) are fine.
  for (const char* seed : {"18446744073709551615", "-1"}) {
    auto r = post_text(c, "/v1/completions",
                       std::string(R"({"model":"stories","prompt":"a","max_tokens":2,"seed":)") + seed + "}");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200) << seed << ": " << r->body;
  }
}

// Item 9: repeat_penalty 0 (llama.cpp divides by it) and penalties beyond a float (1e308 overflowed to inf).
TEST_F(ServeHardeningRequests, PenaltiesOutOfRangeAre400) {
  auto c = client();
  const std::string m1 = error_of(
      post_text(c, "/api/generate",
                R"({"model":"stories","prompt":"a","stream":false,"options":{"num_predict":2,"repeat_penalty":0}})"),
      400);
  EXPECT_NE(m1.find("'repeat_penalty' must be greater than 0"), std::string::npos) << m1;
  const std::string m2 =
      error_of(post_text(c, "/v1/completions", R"({"model":"stories","prompt":"a","repeat_penalty":0})"), 400);
  EXPECT_NE(m2.find("'repeat_penalty' must be greater than 0"), std::string::npos) << m2;
  const std::string m3 = error_of(post_text(c, "/api/generate",
                                            R"({"model":"stories","prompt":"a","stream":false,"options":)"
                                            R"({"num_predict":300,"frequency_penalty":1e308,"repeat_last_n":-1}})"),
                                  400);
  EXPECT_NE(m3.find("'frequency_penalty' must be between -100.0 and 100.0"), std::string::npos) << m3;
  const std::string m4 = error_of(post_text(c, "/v1/completions",
                                            R"({"model":"stories","prompt":"a","frequency_penalty":1e308,)"
                                            R"("repeat_last_n":-1})"),
                                  400);
  EXPECT_NE(m4.find("'frequency_penalty' must be between -2.0 and 2.0"), std::string::npos) << m4;
  // The largest penalties allowed, over every token generated, still generate (they saturate, never -inf).
  auto r = post_text(c, "/api/generate",
                     R"({"model":"stories","prompt":"Once","stream":false,"options":{"num_predict":200,)"
                     R"("temperature":0.8,"frequency_penalty":100,"presence_penalty":100,"repeat_last_n":-1}})");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_FALSE(json::parse(r->body).contains("error")) << r->body;
  expect_alive();
}

// Item 2: logit_bias -1e300 on every token at temperature 0.8 aborted the process. Banning every token is said
// up front; one that leaves only end-of-generation tokens, with ignore_eos, reaches the sampler with no
// candidate: that request alone ends with an error while another completes.
TEST_F(ServeHardeningRequests, ASamplerWithNoCandidateEndsOnlyItsRequest) {
  auto c = client();
  const int n_vocab = model_->info().n_vocab;
  std::string all = "{", all_but_eog = "{";
  for (int t = 0; t < n_vocab; ++t) {
    all += (t ? ",\"" : "\"") + std::to_string(t) + "\":-1e300";
    if (!model_->is_eog(t)) all_but_eog += (all_but_eog.size() > 1 ? ",\"" : "\"") + std::to_string(t) + "\":-1e300";
  }
  all += "}", all_but_eog += "}";
  const std::string m = error_of(
      post_text(c, "/v1/completions",
                R"({"model":"stories","prompt":"Once","max_tokens":5,"temperature":0.8,"logit_bias":)" + all + "}"),
      400);
  EXPECT_NE(m.find("bans every token"), std::string::npos) << m;
  EXPECT_NE(error_of(post_text(c, "/v1/completions", R"({"model":"stories","prompt":"a","logit_bias":{"99999":1}})"),
                     400)
                .find("not a token id"),
            std::string::npos);

  // A long generation beside the failing ones: it must complete.
  auto other = std::async(std::launch::async, [this] {
    auto c2 = client();
    return post_json(c2, "/v1/completions",
                     {{"model", "stories"}, {"prompt", "One day"}, {"max_tokens", 150}, {"temperature", 0}});
  });
  const std::string banned = R"({"model":"stories","prompt":"Once","max_tokens":5,"temperature":0.8,)"
                             R"("ignore_eos":true,"logit_bias":)" + all_but_eog;
  // Whole: the status was sent before generation began; the body is an error naming the cause.
  auto whole = post_text(c, "/v1/completions", banned + "}");
  ASSERT_TRUE(whole) << "the server is gone";
  EXPECT_NE(whole->body.find("no token may be sampled"), std::string::npos) << whole->body;
  EXPECT_TRUE(json::parse(whole->body).contains("error")) << whole->body;
  // Streamed: an error event, then the end of the stream.
  auto streamed = post_text(c, "/v1/completions", banned + R"(,"stream":true})");
  ASSERT_TRUE(streamed);
  bool done = false;
  const std::vector<json> events = parse_sse(streamed->body, &done);
  ASSERT_FALSE(events.empty());
  EXPECT_TRUE(events.back().contains("error")) << streamed->body;
  EXPECT_TRUE(done);
  const httplib::Result o = other.get();
  ASSERT_TRUE(o);
  EXPECT_EQ(o->status, 200);
  EXPECT_EQ(json::parse(o->body)["choices"][0]["text"], greedy_text(*model_, "One day", 150));
  expect_alive();
}

// Item 9: a profile with temperature "NaN" or "inf" was accepted over /api/create (the model then wrote only
// spaces), as was a top_k that wraps. Refused naming the parameter and its range.
TEST_F(ServeHardeningRequests, ProfilesWithNonFiniteOrWrappingParametersAreRefused) {
  namespace fs = std::filesystem;
  const fs::path dir = fs::path(HEARTH_TEST_TMP) / "serve-hardening-profiles";
  fs::remove_all(dir);
  fs::create_directories(dir);
  ModelStore(dir.string()).import_file(stories_path(), "stories");
  ServerOptions o = stories_options(1, 128);
  o.model_path.clear();
  o.alias.clear();
  o.models_dir = dir.string();
  {
    RunningServer s(o);
    auto c = s.client();
    for (const auto& [key, value] : std::vector<std::pair<std::string, json>>{
             {"temperature", "NaN"}, {"temperature", "inf"}, {"top_k", 4294967297ull}, {"repeat_penalty", 0}}) {
      const json body = {{"model", "x"}, {"from", "stories"}, {"stream", false}, {"parameters", {{key, value}}}};
      const std::string m = error_of(post_json(c, "/api/create", body), 400);
      EXPECT_NE(m.find("parameter '" + key + "' must be"), std::string::npos) << value << ": " << m;
    }
    const std::string mf = error_of(post_json(c, "/api/create", {{"model", "y"}, {"stream", false},
                                                               {"modelfile", "FROM stories\nPARAMETER temperature nan\n"}}),
                                    400);
    EXPECT_NE(mf.find("parameter 'temperature' must be"), std::string::npos) << mf;
  }
  fs::remove_all(dir);
}

// Item 17: the official OpenAI client's models.retrieve.
TEST_F(ServeHardeningRequests, RetrieveOneModel) {
  auto c = client();
  auto r = c.Get("/v1/models/stories");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  const json j = json::parse(r->body);
  EXPECT_EQ(j["id"], "stories");
  EXPECT_EQ(j["object"], "model");
  EXPECT_EQ(j["owned_by"], "hearth");
  EXPECT_TRUE(j["created"].is_number_integer());
  auto missing = c.Get("/v1/models/no-such-model");
  EXPECT_NE(error_of(missing, 404).find("no-such-model"), std::string::npos);
  EXPECT_EQ(json::parse(missing->body)["error"]["code"], "model_not_found");
}

// Item 17: n > 1 stays refused, with a message that says what to do.
TEST_F(ServeHardeningRequests, SeveralChoicesAreRefusedClearly) {
  auto c = client();
  const std::string m = error_of(post_json(c, "/v1/completions", {{"model", "stories"}, {"prompt", "a"}, {"n", 3}}), 400);
  EXPECT_NE(m.find("'n' must be 1"), std::string::npos) << m;
  EXPECT_NE(m.find("send several requests"), std::string::npos) << m;
}

}  // namespace
}  // namespace hearth::test
#endif  // HEARTH_HAVE_HTTP

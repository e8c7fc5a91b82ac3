// The endpoint target and the runner against a fake OpenAI-API server in the test: a streamed completion with
// usage and llama-server timings, a non-streaming server, and the failures a run must survive (refused
// connection, timeout, malformed JSON, HTTP errors, an error object), each reported per request.
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "eval/endpoint_client.h"
#include "eval/runner.h"
#include "hearth/error.h"

#ifdef HEARTH_HAVE_HTTP
#include <httplib.h>

namespace hearth::eval {
namespace {

using nlohmann::json;

std::string sse(const json& j) { return "data: " + j.dump() + "\n\n"; }

// A port nothing listens on: bound, then closed.
int free_port() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  close(fd);
  return ntohs(a.sin_port);
}

class FakeOpenAi : public ::testing::Test {
 protected:
  void SetUp() override {
    auto handler = [this](const httplib::Request& req, httplib::Response& res) {
      const json body = json::parse(req.body);
      {
        std::lock_guard<std::mutex> lock(mu_);
        last_body_ = body;
        last_path_ = req.path;
      }
      const std::string model = body.value("model", "");
      if (model == "slow") {
        std::this_thread::sleep_for(std::chrono::milliseconds(1500));
        res.set_content(sse({{"choices", {{{"text", "late"}}}}}) + "data: [DONE]\n\n", "text/event-stream");
      } else if (model == "malformed") {
        res.set_content(sse({{"choices", {{{"text", "ok"}}}}}) + "data: {\"choices\": [{\"text\": \"x\"\n\n",
                        "text/event-stream");
      } else if (model == "http500") {
        res.status = 500;
        res.set_content("{\"error\": {\"message\": \"model exploded\"}}", "application/json");
      } else if (model == "error-object") {
        res.set_content(sse({{"error", {{"message", "context too long"}}}}), "text/event-stream");
      } else if (model == "nostream") {
        res.set_content(
            json({{"choices", {{{"text", "Paris"}}}}, {"usage", {{"prompt_tokens", 12}, {"completion_tokens", 2}}}})
                .dump(),
            "application/json");
      } else {  // "good": one text piece per token, spaced in time, then usage and timings
        const int n = body.value("max_tokens", 4);
        res.set_chunked_content_provider("text/event-stream", [n](size_t, httplib::DataSink& sink) {
          for (int i = 0; i < n; ++i) {
            std::this_thread::sleep_for(std::chrono::milliseconds(5));
            const std::string s = sse({{"choices", {{{"text", " tok" + std::to_string(i)}, {"index", 0}}}}});
            sink.write(s.data(), s.size());
          }
          const std::string tail =
              sse({{"choices", json::array()},
                   {"usage", {{"prompt_tokens", 7}, {"completion_tokens", n}}},
                   {"timings", {{"prompt_n", 7}, {"prompt_ms", 2.0}, {"prompt_per_second", 3500.0}}}}) +
              "data: [DONE]\n\n";
          sink.write(tail.data(), tail.size());
          sink.done();
          return true;
        });
      }
    };
    server_.Post("/v1/completions", handler);
    server_.Post("/v1/chat/completions",
                 [this, handler](const httplib::Request& req, httplib::Response& res) { handler(req, res); });
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    while (!server_.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  void TearDown() override {
    server_.stop();
    thread_.join();
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  EndpointOptions opts(const std::string& model, double timeout = 5) const { return {url(), model, timeout, ""}; }
  Measurement run(const std::string& model, double timeout = 5, bool chat = false) {
    Request r;
    r.prompt = "hello";
    r.max_tokens = 6;
    r.chat = chat;
    return make_endpoint_target(opts(model, timeout))->run(r, nullptr);
  }

  httplib::Server server_;
  std::thread thread_;
  int port_ = 0;
  std::mutex mu_;
  json last_body_;
  std::string last_path_;
};

TEST_F(FakeOpenAi, StreamedCompletionIsMeasured) {
  const Measurement m = run("good");
  ASSERT_TRUE(m.ok) << m.error;
  EXPECT_EQ(m.text, " tok0 tok1 tok2 tok3 tok4 tok5");
  EXPECT_EQ(m.gen_tokens, 6);              // from usage
  EXPECT_EQ(m.prompt_tokens, 7);           // from usage
  EXPECT_DOUBLE_EQ(m.prompt_tps, 3500.0);  // llama-server's own prompt timing
  EXPECT_GT(m.ttft_ms, 0);
  EXPECT_GT(m.total_ms, m.ttft_ms);
  // 5 gaps of >= 5 ms between the first and the last piece: at most 200 tokens/s
  EXPECT_GT(m.gen_tps, 0);
  EXPECT_LE(m.gen_tps, 200.0);
  std::lock_guard<std::mutex> lock(mu_);
  EXPECT_EQ(last_path_, "/v1/completions");
  EXPECT_EQ(last_body_["model"], "good");
  EXPECT_EQ(last_body_["prompt"], "hello");
  EXPECT_EQ(last_body_["max_tokens"], 6);
  EXPECT_EQ(last_body_["stream"], true);
  EXPECT_EQ(last_body_["cache_prompt"], false);
}

TEST_F(FakeOpenAi, ChatUsesMessagesAndAcceptsV1Suffix) {
  Request r;
  r.prompt = "hi";
  r.max_tokens = 2;
  r.chat = true;
  const Measurement m = make_endpoint_target({url() + "/v1/", "good", 5, ""})->run(r, nullptr);
  ASSERT_TRUE(m.ok) << m.error;
  std::lock_guard<std::mutex> lock(mu_);
  EXPECT_EQ(last_path_, "/v1/chat/completions");
  EXPECT_EQ(last_body_["messages"][0]["content"], "hi");
}

TEST_F(FakeOpenAi, NonStreamingBody) {
  const Measurement m = run("nostream");
  ASSERT_TRUE(m.ok) << m.error;
  EXPECT_EQ(m.text, "Paris");
  EXPECT_EQ(m.gen_tokens, 2);
  EXPECT_EQ(m.prompt_tokens, 12);
}

TEST_F(FakeOpenAi, FailuresAreReportedNotThrown) {
  Measurement m = run("malformed");
  EXPECT_FALSE(m.ok);
  EXPECT_NE(m.error.find("malformed JSON"), std::string::npos) << m.error;
  EXPECT_EQ(m.text, "ok");  // what arrived before the bad line is kept

  m = run("http500");
  EXPECT_FALSE(m.ok);
  EXPECT_NE(m.error.find("HTTP 500"), std::string::npos) << m.error;
  EXPECT_NE(m.error.find("model exploded"), std::string::npos) << m.error;

  m = run("error-object");
  EXPECT_FALSE(m.ok);
  EXPECT_NE(m.error.find("context too long"), std::string::npos) << m.error;

  m = run("slow", 0.3);
  EXPECT_FALSE(m.ok);
  EXPECT_FALSE(m.error.empty());
  EXPECT_LT(m.total_ms, 1400);  // gave up at the timeout, did not wait for the server

  Request r;
  m = make_endpoint_target({"http://127.0.0.1:" + std::to_string(free_port()), "x", 2, ""})->run(r, nullptr);
  EXPECT_FALSE(m.ok);
  EXPECT_NE(m.error.find("failed"), std::string::npos) << m.error;
}

TEST_F(FakeOpenAi, BadUrlIsAnError) {
  EXPECT_THROW(make_endpoint_target({"localhost:8080", "m", 5, ""}), Error);
  EXPECT_THROW(make_endpoint_target({"ftp://x", "m", 5, ""}), Error);
  EXPECT_THROW(make_endpoint_target({"http://h", "m", 0, ""}), Error);
}

TEST_F(FakeOpenAi, RunnerGoesOnPastFailingTargets) {
  auto spec = [&](const std::string& model, double timeout, const std::string& u) {
    TargetSpec s;
    s.label = "endpoint " + model;
    s.kind = "endpoint";
    s.model = model;
    EndpointOptions o{u, model, timeout, ""};
    s.open = [o] { return make_endpoint_target(o); };
    return s;
  };
  const std::string refused = "http://127.0.0.1:" + std::to_string(free_port());
  std::vector<TargetSpec> specs = {spec("good", 5, url()), spec("x", 2, refused), spec("malformed", 5, url()),
                                   spec("slow", 0.3, url())};
  TargetSpec broken;
  broken.label = "broken";
  broken.kind = "endpoint";
  broken.open = []() -> std::unique_ptr<Target> { throw Error("no such thing"); };
  specs.push_back(broken);
  const std::vector<Prompt> prompts = {{"a", "first", 3, "short"}, {"b", "second", 4, "short"}};
  RunOptions ro;
  ro.reps = 2;
  ro.temperatures = {0.0, 0.5};
  std::vector<RequestRecord> records;
  size_t last_done = 0, last_total = 0;
  RunHooks hooks;
  hooks.progress = [&](size_t done, size_t total, const std::string&) { last_done = done, last_total = total; };
  run_eval(specs, prompts, ro, hooks, records);
  EXPECT_EQ(last_total, 5u * 2 * 2 * 2);
  EXPECT_EQ(last_done, last_total);
  ASSERT_EQ(records.size(), 4u * 2 * 2 * 2 + 2);  // every request of the four, one record per temperature for broken
  for (const RequestRecord& r : records) {
    if (r.model == "good") {
      EXPECT_TRUE(r.m.ok) << r.m.error;
      EXPECT_EQ(r.m.gen_tokens, r.prompt_id == "a" ? 3 : 4);
      EXPECT_EQ(r.device, "endpoint 127.0.0.1:" + std::to_string(port_));
    } else {
      EXPECT_FALSE(r.m.ok) << r.config;
      EXPECT_FALSE(r.m.error.empty());
    }
    EXPECT_TRUE(std::isnan(r.energy_j));  // no power sampler given
  }
  // The target that cannot be opened is recorded first; then every (rep, prompt) runs on each configuration in
  // turn (interleaved), so the next eight records are prompt a of rep 1 on the four targets x two temperatures.
  EXPECT_EQ(records[0].config, "broken T=0");
  EXPECT_EQ(records[1].config, "broken T=0.5");
  EXPECT_NE(records[1].m.error.find("no such thing"), std::string::npos);
  const std::vector<std::string> turn = {"endpoint good T=0",      "endpoint good T=0.5", "endpoint x T=0",
                                         "endpoint x T=0.5",       "endpoint malformed T=0", "endpoint malformed T=0.5",
                                         "endpoint slow T=0",      "endpoint slow T=0.5"};
  for (size_t i = 0; i < turn.size(); ++i) {
    EXPECT_EQ(records[2 + i].config, turn[i]);
    EXPECT_EQ(records[2 + i].prompt_id, "a");
    EXPECT_EQ(records[2 + i].rep, 1);
    EXPECT_EQ(records[2 + turn.size() + i].config, turn[i]);
    EXPECT_EQ(records[2 + turn.size() + i].prompt_id, "b");
  }
  EXPECT_EQ(records.back().config, "endpoint slow T=0.5");
  EXPECT_EQ(records.back().rep, 2);
}

TEST_F(FakeOpenAi, StopKeepsWhatWasMeasured) {
  TargetSpec s;
  s.label = "good";
  s.kind = "endpoint";
  EndpointOptions o{url(), "good", 5, ""};
  s.open = [o] { return make_endpoint_target(o); };
  const std::vector<Prompt> prompts = {{"a", "x", 2, ""}, {"b", "y", 2, ""}, {"c", "z", 2, ""}};
  RunOptions ro;
  ro.reps = 5;
  std::vector<RequestRecord> records;
  RunHooks hooks;
  hooks.stop = [&] { return records.size() >= 4; };
  run_eval({s}, prompts, ro, hooks, records);
  EXPECT_EQ(records.size(), 4u);
  for (const RequestRecord& r : records) EXPECT_TRUE(r.m.ok);
}

}  // namespace
}  // namespace hearth::eval

#else
TEST(EvalEndpoint, NeedsHttp) { GTEST_SKIP() << "built without cpp-httplib"; }
#endif

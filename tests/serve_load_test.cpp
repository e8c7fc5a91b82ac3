// hearth serve under load: many concurrent streaming clients over loopback (both APIs) share four
// sequences; each gets exactly its own greedy text (nothing lost or crossed), the server's counters
// balance, and memory stays flat over rounds. A client that disconnects (streaming or waiting for a whole
// response) cancels its generation.
#include <gtest/gtest.h>

#ifdef HEARTH_HAVE_HTTP
#include <chrono>
#include <fstream>
#include <thread>

#include "serve_test_util.h"

namespace hearth::test {
namespace {

using namespace std::chrono_literals;

long rss_kib() {
  std::ifstream f("/proc/self/status");
  for (std::string line; std::getline(f, line);)
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  return 0;
}

// Waits (bounded) until the server has no generation running or queued.
void wait_idle(Server& s) {
  for (int i = 0; i < 200 && s.counters().active != 0; ++i) std::this_thread::sleep_for(25ms);
}

TEST(ServeLoad, ConcurrentStreamingClientsGetTheirOwnText) {
  HEARTH_REQUIRE_FIXTURE(stories_path());
  auto model = load_stories_model();
  RunningServer srv(stories_options(4, 256));
  constexpr int kClients = 24;
  std::vector<std::string> prompts;
  std::vector<std::string> expected;
  for (int i = 0; i < kClients; ++i) {
    static const char* starts[] = {"Once upon a time", "The little dog", "Lily and Ben", "One day", "Tom had a red ball",
                                   "The sun was", "A big bird", "Mom said"};
    prompts.push_back(std::string(starts[i % 8]) + (i >= 8 ? " and " + std::to_string(i) : ""));
    expected.push_back(greedy_text(*model, prompts.back(), 30 + i % 3 * 10));
  }
  auto round = [&] {
    std::vector<std::string> got(kClients);
    std::vector<int> status(kClients, 0);
    std::vector<std::thread> threads;
    for (int i = 0; i < kClients; ++i)
      threads.emplace_back([&, i] {
        auto c = srv.client();
        const int n = 30 + i % 3 * 10;
        if (i % 2 == 0) {
          auto r = post_json(c, "/v1/completions",
                             {{"model", "stories"}, {"prompt", prompts[i]}, {"max_tokens", n}, {"temperature", 0},
                              {"stream", true}});
          if (!r) return (void)(got[i] = "HTTP error " + httplib::to_string(r.error()));
          status[i] = r->status;
          for (const json& e : parse_sse(r->body))
            if (!e["choices"].empty()) got[i] += e["choices"][0]["text"].get<std::string>();
        } else {
          auto r = post_json(c, "/api/generate",
                             {{"model", "stories"}, {"prompt", prompts[i]}, {"raw", true},
                              {"options", {{"temperature", 0}, {"num_predict", n}}}});
          if (!r) return (void)(got[i] = "HTTP error " + httplib::to_string(r.error()));
          status[i] = r->status;
          for (const json& l : parse_ndjson(r->body)) got[i] += l["response"].get<std::string>();
        }
      });
    for (auto& t : threads) t.join();
    for (int i = 0; i < kClients; ++i) {
      EXPECT_EQ(status[i], 200) << "client " << i;
      EXPECT_EQ(got[i], expected[i]) << "client " << i << " (" << prompts[i] << ")";
    }
  };
  const auto t0 = std::chrono::steady_clock::now();
  round();  // warm-up: buffers and threads reach their size
  const long rss0 = rss_kib();
  for (int r = 0; r < 3; ++r) round();
  const long rss1 = rss_kib();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 120s);
#ifndef __SANITIZE_ADDRESS__  // AddressSanitizer keeps freed memory in quarantine: RSS grows without a leak
  EXPECT_LT(rss1 - rss0, 16 * 1024) << "RSS grew from " << rss0 << " KiB to " << rss1 << " KiB";
#else
  (void)rss0, (void)rss1;
#endif
  wait_idle(*srv.server);
  const ServerCounters c = srv.server->counters();
  EXPECT_EQ(c.requests, 4u * kClients);
  EXPECT_EQ(c.finished, c.requests);
  EXPECT_EQ(c.cancelled, 0u);
  EXPECT_EQ(c.active, 0);
}

TEST(ServeLoad, DisconnectingClientStopsItsGeneration) {
  HEARTH_REQUIRE_FIXTURE(stories_path());
  RunningServer srv(stories_options(2, 4096));
  for (const char* path : {"/v1/completions", "/api/generate"}) {
    const bool openai = std::string(path) == "/v1/completions";
    // Until the context is full: thousands of tokens unless the server notices the client has gone.
    json body = openai ? json{{"model", "stories"}, {"prompt", "Once upon a time"}, {"max_tokens", -1},
                              {"temperature", 0}, {"stream", true}}
                       : json{{"model", "stories"}, {"prompt", "Once upon a time"}, {"raw", true},
                              {"options", {{"temperature", 0}, {"num_predict", -1}}}};
    const ServerCounters before = srv.server->counters();
    httplib::Client c("127.0.0.1", srv.port);
    httplib::Request req;
    req.method = "POST";
    req.path = path;
    req.body = body.dump();
    req.set_header("Content-Type", "application/json");
    int chunks = 0;
    req.content_receiver = [&](const char*, size_t, uint64_t, uint64_t) { return ++chunks < 3; };
    auto r = c.send(req);  // the receiver's false closes the connection
    EXPECT_EQ(chunks, 3);
    c.stop();
    ServerCounters after = srv.server->counters();
    for (int i = 0; i < 400 && after.finished == before.finished; ++i) {
      std::this_thread::sleep_for(25ms);
      after = srv.server->counters();
    }
    EXPECT_EQ(after.finished, before.finished + 1) << path;
    EXPECT_EQ(after.cancelled, before.cancelled + 1) << path;
    EXPECT_LT(after.tokens_generated - before.tokens_generated, 3000u) << path;
  }
  // Whole (non-stream) responses: the client gives up waiting and closes; the server sees it without writing.
  for (const char* path : {"/v1/chat/completions", "/api/chat"}) {
    const bool openai = std::string(path) == "/v1/chat/completions";
    json body = {{"model", "stories"}, {"messages", {{{"role", "user"}, {"content", "Tell a long story"}}}}, {"stream", false}};
    if (openai) body["max_tokens"] = -1, body["temperature"] = 0;
    else body["options"] = {{"temperature", 0}, {"num_predict", -1}};
    const ServerCounters before = srv.server->counters();
    {
      httplib::Client c("127.0.0.1", srv.port);
      c.set_read_timeout(0, 30000);  // 30 ms
      auto r = post_json(c, path, body);
      EXPECT_FALSE(r) << path << " answered within 30 ms; the test needs a longer generation";
    }
    ServerCounters after = srv.server->counters();
    for (int i = 0; i < 400 && after.finished == before.finished; ++i) {
      std::this_thread::sleep_for(25ms);
      after = srv.server->counters();
    }
    EXPECT_EQ(after.cancelled, before.cancelled + 1) << path;
    EXPECT_LT(after.tokens_generated - before.tokens_generated, 3000u) << path;
  }
  // The server goes on serving.
  auto c = srv.client();
  auto ok = post_json(c, "/v1/completions", {{"model", "stories"}, {"prompt", "a"}, {"max_tokens", 5}});
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->status, 200);
}

}  // namespace
}  // namespace hearth::test
#else
TEST(ServeLoad, NeedsHttp) { GTEST_SKIP() << "built without cpp-httplib"; }
#endif

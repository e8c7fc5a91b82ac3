// Continuous batching: requests sharing one model and one batched forward pass generate exactly what each
// generates alone, including the reference output of the stories260K fixture; cancellation, queueing and bad
// input behave.
#include <gtest/gtest.h>

#include <chrono>
#include <future>
#include <limits>
#include <stdexcept>
#include <thread>

#include "hearth/generate.h"
#include "hearth/model.h"
#include "hearth/scheduler.h"
#include "greedy_util.h"
#include "test_util.h"

namespace hearth {
namespace {

using test::fixture;

std::unique_ptr<Model> load_stories() { return test::load_cpu(fixture("stories260K/stories260K.gguf")); }

GenerateParams greedy(int n) {
  GenerateParams g;
  g.n_predict = n;
  g.sampling.temperature = 0;
  return g;
}

SessionParams slots(int n_seq, int n_ctx, int n_batch = 64) {
  SessionParams sp;
  sp.n_seq = n_seq;
  sp.n_ctx = n_ctx;
  sp.n_batch = n_batch;
  return sp;
}

struct Result {
  GenerateStats stats;
  std::string text;
};

// Submits a request whose text and final stats land in the returned future.
std::future<Result> submit(Scheduler& s, std::vector<int32_t> prompt, GenerateParams params,
                           std::function<bool(const std::string&)> on_text = nullptr, bool cache_prompt = true) {
  auto r = std::make_shared<Result>();
  auto done = std::make_shared<std::promise<Result>>();
  BatchRequest req;
  req.prompt = std::move(prompt);
  req.params = std::move(params);
  req.params.cache_prompt = cache_prompt;
  req.on_text = [r, on_text](const std::string& t) {
    r->text += t;
    return on_text ? on_text(t) : true;
  };
  req.on_done = [r, done](const GenerateStats& st) {
    r->stats = st;
    done->set_value(*r);
  };
  auto f = done->get_future();
  s.submit(std::move(req));
  return f;
}

TEST(Scheduler, ConcurrentRequestsGenerateWhatEachGeneratesAlone) {
  HEARTH_REQUIRE_FIXTURE(fixture("stories260K/stories260K.gguf"));
  auto model = load_stories();
  const std::vector<std::string> prompts = {"Once upon a time", "The little dog", "Lily and Ben went to the park",
                                            "One day", "Tom had a red ball", "The sun was"};
  // Alone: one session per prompt, generate() as hearth run does.
  std::vector<std::vector<int32_t>> alone;
  for (const std::string& p : prompts) {
    Session s(*model, slots(1, 128));
    alone.push_back(generate(s, model->tokenize(p, true, false), greedy(60), [](const std::string&) { return true; })
                        .tokens);
  }
  // Together: 4 sequences for 6 requests (two wait in the queue), small steps so prompts span several.
  Scheduler sched(*model, slots(4, 128, 8));
  std::vector<std::future<Result>> futures;
  for (const std::string& p : prompts) futures.push_back(submit(sched, model->tokenize(p, true, false), greedy(60)));
  for (size_t i = 0; i < prompts.size(); ++i) {
    Result r = futures[i].get();
    EXPECT_EQ(r.stats.tokens, alone[i]) << prompts[i];
    EXPECT_EQ(r.stats.stop_reason, "length");
    // The two queued requests may reuse a finished one's prefix (BOS at least).
    EXPECT_EQ(r.stats.n_prompt + r.stats.n_cached, static_cast<int>(model->tokenize(prompts[i], true, false).size()));
    EXPECT_GE(r.stats.n_prompt, 1);
    std::string pieces;
    for (int32_t t : r.stats.tokens) pieces += model->token_to_piece(t);
    EXPECT_EQ(r.text, pieces) << prompts[i];
  }
  // Batching happened: fewer forward passes than tokens evaluated.
  const auto c = sched.counts();
  EXPECT_LT(c.steps * 2, c.tokens_decoded);
}

// A sequence keeps its K/V after its request: the next turn of a conversation evaluates only what is new, goes to
// the sequence holding its prefix, and generates what a fresh evaluation of the whole prompt generates.
TEST(Scheduler, NextTurnReusesTheCachedPrefix) {
  HEARTH_REQUIRE_FIXTURE(fixture("stories260K/stories260K.gguf"));
  auto model = load_stories();
  auto alone = [&](const std::vector<int32_t>& prompt) {
    Session s(*model, slots(1, 256));
    return generate(s, prompt, greedy(30), [](const std::string&) { return true; }).tokens;
  };
  Scheduler sched(*model, slots(2, 256, 16));
  const auto a = model->tokenize("Once upon a time, there was a little girl named Lily.", true, false);
  const auto other = model->tokenize("Tom had a big red ball and a small dog.", true, false);
  // Two conversations at once, one per sequence.
  auto fa = submit(sched, a, greedy(30));
  auto fo = submit(sched, other, greedy(30));
  Result ra = fa.get(), ro = fo.get();
  EXPECT_EQ(ra.stats.tokens, alone(a));
  EXPECT_EQ(ra.stats.n_cached, 0);
  EXPECT_EQ(ra.stats.n_prompt, static_cast<int>(a.size()));

  // The next turn of the first: its prompt, the reply (all but the last token was evaluated), new text.
  auto b = a;
  b.insert(b.end(), ra.stats.tokens.begin(), ra.stats.tokens.end());
  const auto more = model->tokenize(" She liked to play", false, false);
  b.insert(b.end(), more.begin(), more.end());
  Result rb = submit(sched, b, greedy(30)).get();
  EXPECT_EQ(rb.stats.n_cached, static_cast<int>(a.size() + ra.stats.tokens.size() - 1));
  EXPECT_EQ(rb.stats.n_prompt + rb.stats.n_cached, static_cast<int>(b.size()));
  EXPECT_EQ(rb.stats.tokens, alone(b));

  // The other conversation's sequence was left alone: the same prompt again reuses all but its last token.
  Result ro2 = submit(sched, other, greedy(30)).get();
  EXPECT_EQ(ro2.stats.n_cached, static_cast<int>(other.size() - 1));
  EXPECT_EQ(ro2.stats.tokens, ro.stats.tokens);

  // cache_prompt off: everything evaluated, same output.
  Result rc = submit(sched, b, greedy(30), nullptr, false).get();
  EXPECT_EQ(rc.stats.n_cached, 0);
  EXPECT_EQ(rc.stats.tokens, rb.stats.tokens);
}

TEST(Scheduler, BosAloneGivesTheFixtureOutputBesideOtherRequests) {
  HEARTH_REQUIRE_FIXTURE(fixture("stories260K/stories260K.gguf"));
  auto model = load_stories();
  auto expected = test::read_ids(fixture("stories260K/expected/run_t0_n200.generated_ids.txt"));
  Scheduler sched(*model, slots(3, 256));
  auto other1 = submit(sched, model->tokenize("The cat", true, false), greedy(150));
  auto main = submit(sched, {model->bos()}, greedy(200));
  auto other2 = submit(sched, model->tokenize("Once upon a time there was", true, false), greedy(100));
  std::vector<int32_t> want(expected.begin(), expected.end());
  EXPECT_EQ(main.get().stats.tokens, want);
  EXPECT_EQ(other1.get().stats.n_gen, 150);
  EXPECT_EQ(other2.get().stats.n_gen, 100);
}

TEST(Scheduler, CancellingOneRequestLeavesTheOthers) {
  HEARTH_REQUIRE_FIXTURE(fixture("stories260K/stories260K.gguf"));
  auto model = load_stories();
  Scheduler sched(*model, slots(2, 128));
  int pieces = 0;
  auto stopped = submit(sched, model->tokenize("Once upon a time", true, false), greedy(100),
                        [&](const std::string&) { return ++pieces < 3; });  // a client that goes away
  auto kept = submit(sched, model->tokenize("One day", true, false), greedy(50));
  const Result s = stopped.get();
  EXPECT_EQ(s.stats.stop_reason, "cancelled");
  EXPECT_EQ(pieces, 3);
  EXPECT_LT(s.stats.n_gen, 100);
  const Result k = kept.get();
  EXPECT_EQ(k.stats.stop_reason, "length");
  EXPECT_EQ(k.stats.n_gen, 50);
}

TEST(Scheduler, CancelByIdWhileQueuedOrRunning) {
  HEARTH_REQUIRE_FIXTURE(fixture("stories260K/stories260K.gguf"));
  auto model = load_stories();
  Scheduler sched(*model, slots(1, 256));
  auto running = std::make_shared<std::promise<GenerateStats>>();
  auto queued = std::make_shared<std::promise<GenerateStats>>();
  std::promise<void> started;
  bool first = true;
  BatchRequest a;
  a.prompt = {model->bos()};
  a.params = greedy(-1);  // until the context is full: long enough to cancel in flight
  a.on_text = [&](const std::string&) {
    if (first) first = false, started.set_value();
    return true;
  };
  a.on_done = [running](const GenerateStats& st) { running->set_value(st); };
  BatchRequest b;
  b.prompt = {model->bos()};
  b.params = greedy(10);
  b.on_done = [queued](const GenerateStats& st) { queued->set_value(st); };
  const uint64_t ida = sched.submit(std::move(a));
  const uint64_t idb = sched.submit(std::move(b));  // waits: one sequence only
  started.get_future().wait();
  sched.cancel(idb);
  sched.cancel(ida);
  const GenerateStats sa = running->get_future().get(), sb = queued->get_future().get();
  EXPECT_EQ(sa.stop_reason, "cancelled");
  EXPECT_GT(sa.n_gen, 0);
  EXPECT_EQ(sb.stop_reason, "cancelled");
  EXPECT_EQ(sb.n_gen, 0);
}

TEST(Scheduler, FullContextStopsWithContextAndLongPromptsAreRefused) {
  HEARTH_REQUIRE_FIXTURE(fixture("stories260K/stories260K.gguf"));
  auto model = load_stories();
  Scheduler sched(*model, slots(2, 32));
  const auto prompt = model->tokenize("Once upon a time", true, false);
  const Result r = submit(sched, prompt, greedy(-1)).get();
  EXPECT_EQ(r.stats.stop_reason, "context");
  EXPECT_EQ(r.stats.n_gen, 32 - static_cast<int>(prompt.size()) + 1);  // the last sampled token fills no slot
  std::vector<int32_t> long_prompt(32, model->bos());
  try {
    submit(sched, long_prompt, greedy(5));
    FAIL() << "a prompt as long as the context was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("does not fit the context of 32"), std::string::npos) << e.what();
  }
  EXPECT_THROW(submit(sched, {}, greedy(5)), Error);
}

TEST(Scheduler, DestructorEndsWhatIsRunningAndQueued) {
  HEARTH_REQUIRE_FIXTURE(fixture("stories260K/stories260K.gguf"));
  auto model = load_stories();
  std::vector<std::future<Result>> f;
  std::future<Result> last;
  {
    Scheduler sched(*model, slots(1, 256));
    for (int i = 0; i < 2; ++i) f.push_back(submit(sched, {model->bos()}, greedy(-1)));
    last = submit(sched, {model->bos()}, greedy(-1));
  }
  const Result l = last.get();
  EXPECT_EQ(l.stats.stop_reason, "cancelled");
  EXPECT_EQ(l.stats.n_gen, 0);
  // Every request is answered (none hangs); the last one could not have started.
  for (auto& x : f) {
    const std::string why = x.get().stats.stop_reason;
    EXPECT_TRUE(why == "cancelled" || why == "context") << why;
  }

}

// Issue 15: a request whose sampler throws (every token banned) ended the process ("terminate ... every
// candidate token has logit -inf"); now it ends with an error and the request beside it completes.
TEST(Scheduler, ASamplerErrorEndsOnlyItsRequest) {
  HEARTH_REQUIRE_FIXTURE(fixture("stories260K/stories260K.gguf"));
  auto model = load_stories();
  Scheduler sched(*model, slots(2, 128));
  GenerateParams banned = greedy(20);
  banned.sampling.temperature = 0.8f;
  for (int32_t t = 0; t < model->info().n_vocab; ++t)
    banned.sampling.logit_bias.emplace_back(t, -std::numeric_limits<float>::infinity());
  auto kept = submit(sched, model->tokenize("One day", true, false), greedy(40));
  auto bad = submit(sched, model->tokenize("Once upon a time", true, false), banned);
  const Result b = bad.get();
  EXPECT_EQ(b.stats.stop_reason.rfind("error: ", 0), 0u) << b.stats.stop_reason;
  EXPECT_NE(b.stats.stop_reason.find("no token may be sampled"), std::string::npos) << b.stats.stop_reason;
  const Result k = kept.get();
  EXPECT_EQ(k.stats.stop_reason, "length");
  EXPECT_EQ(k.stats.n_gen, 40);
  // Parameters the sampler refuses (a NaN temperature) end their request before it starts, the same way.
  GenerateParams nan = greedy(5);
  nan.sampling.temperature = std::nanf("");
  const Result n = submit(sched, {model->bos()}, nan).get();
  EXPECT_NE(n.stats.stop_reason.find("temperature"), std::string::npos) << n.stats.stop_reason;
  // An owner whose on_text throws ends its own request; the scheduler goes on.
  const Result t = submit(sched, {model->bos()}, greedy(5), [](const std::string&) -> bool {
                     throw std::runtime_error("client callback failed");
                   }).get();
  EXPECT_NE(t.stats.stop_reason.find("client callback failed"), std::string::npos) << t.stats.stop_reason;
  EXPECT_EQ(submit(sched, {model->bos()}, greedy(5)).get().stats.n_gen, 5);
}

}  // namespace
}  // namespace hearth

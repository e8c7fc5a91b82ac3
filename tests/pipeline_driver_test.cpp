// The distributed loop's bookkeeping with several sequences in flight: each sequence's greedy text through the
// pipeline equals a single-process Session's, prompts cut into micro-batches, sequences cleared and reused.
// Runs as one rank under ctest; pipeline_mpi_test also launches it under mpirun with 2 and 3 ranks (rank 0
// checks, the others serve).
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>

#include "greedy_util.h"
#include "test_util.h"

#ifdef HEARTH_HAVE_MPI
#include "hearth/generate.h"
#include "hearth/session.h"
#include "pipeline/mpi/mpi_transport.h"
#include "pipeline/mpi/pipeline_run.h"

namespace hearth {
namespace {

// MPI is initialized once per process: one transport for every test, finalized at the end.
pipeline::MpiTransport* g_transport = nullptr;
class MpiEnvironment : public ::testing::Environment {
 public:
  void SetUp() override { g_transport = new pipeline::MpiTransport(); }
  void TearDown() override {
    delete g_transport;
    g_transport = nullptr;
  }
};
const auto* g_env = ::testing::AddGlobalTestEnvironment(new MpiEnvironment);

std::string stories() { return test::fixture("stories260K/stories260K.gguf"); }

GenerateParams greedy(int n) {
  GenerateParams gp;
  gp.n_predict = n;
  gp.sampling.temperature = 0;
  return gp;
}

// The text of one process from the prompt tokens (or, when none are given, from the prompt text).
std::string single_process(const std::string& prompt, const GenerateParams& g, const std::vector<int32_t>& tokens = {}) {
  return test::one_process_text(
      stories(), [&](const Model& m) { return tokens.empty() ? m.tokenize(prompt, true, true) : tokens; }, g, 256, 1);
}

std::string single_process(const std::string& prompt, int n, const std::vector<int32_t>& tokens = {}) {
  return single_process(prompt, greedy(n), tokens);
}

// Ranks other than 0 serve the pipeline until rank 0 finishes it (true); rank 0 goes on with the test (false).
bool serve_unless_driver(pipeline::Pipeline& pipe) {
  if (pipe.is_driver()) return false;
  pipe.serve();
  return true;
}

// stories260K on n_seq sequences, prompts travelling in micro-batches of 3 tokens.
pipeline::PipelineOptions stories_pipeline(int n_seq) {
  pipeline::PipelineOptions po;
  po.model_path = stories();
  po.load.n_threads = 1;
  po.load.n_gpu_layers = 0;
  po.session.n_ctx = 256;
  po.session.n_seq = n_seq;
  po.session.n_batch = 3;
  po.stage_timeout_s = 30;
  return po;
}

TEST(PipelineDriver, SequencesInFlightMatchSingleProcess) {
  HEARTH_REQUIRE_FIXTURE(stories());
  pipeline::PipelineOptions po = stories_pipeline(3);
  // pipeline_mpi_test also runs it as a looped pipeline with streamed laps.
  if (const char* v = std::getenv("HEARTH_TEST_LAPS")) po.laps = std::atoi(v);
  if (const char* v = std::getenv("HEARTH_TEST_MEM_BUDGET")) po.mem_budget = std::strtoull(v, nullptr, 10);
  pipeline::Pipeline pipe(*g_transport, po);
  if (serve_unless_driver(pipe)) return;
  const std::vector<std::string> prompts = {"Once upon a time", "Zoo", "The little dog was very happy because"};
  const int n = 40;
  std::vector<std::string> expected;
  for (const auto& p : prompts) expected.push_back(single_process(p, n));
  for (int round = 0; round < 2; ++round) {
    // Round 2 reuses the cleared sequences with the prompts in another order and one sequence fewer.
    std::vector<std::string> order = round == 0 ? prompts : std::vector<std::string>{prompts[2], prompts[0]};
    std::vector<std::string> got(order.size());
    std::vector<pipeline::PipelineRequest> reqs(order.size());
    for (size_t i = 0; i < order.size(); ++i) {
      reqs[i].prompt = pipe.model().tokenize(order[i], true, true);
      reqs[i].params = greedy(n);
      reqs[i].on_text = [&got, i](const std::string& t) {
        got[i] += t;
        return true;
      };
    }
    std::vector<GenerateStats> st = pipe.generate(reqs);
    ASSERT_EQ(st.size(), order.size());
    for (size_t i = 0; i < order.size(); ++i) {
      const size_t k = std::find(prompts.begin(), prompts.end(), order[i]) - prompts.begin();
      EXPECT_EQ(got[i], expected[k]) << "round " << round << ", sequence " << i << ": " << order[i];
      EXPECT_EQ(st[i].n_prompt, static_cast<int>(reqs[i].prompt.size()));
      EXPECT_EQ(st[i].n_gen, n);
      EXPECT_EQ(st[i].stop_reason, "length");
    }
    for (int s = 0; s < 3; ++s) pipe.clear(s);
  }
  std::vector<pipeline::StageReport> reports = pipe.finish();
  ASSERT_EQ(static_cast<int>(reports.size()), pipe.size());
  EXPECT_EQ(reports.front().layer_begin, 0);
  EXPECT_EQ(reports.back().layer_end, 5);
  if (po.laps == 1) {
    for (size_t r = 1; r < reports.size(); ++r) EXPECT_EQ(reports[r].layer_begin, reports[r - 1].layer_end);
  }
}

// Continuous batching: requests join one at a time whenever a sequence is free, while others are mid-way, and
// reuse the sequences of those that ended; each text equals the single process's.
TEST(PipelineDriver, SequencesInFlightContinuous) {
  HEARTH_REQUIRE_FIXTURE(stories());
  pipeline::PipelineOptions po = stories_pipeline(2);
  pipeline::Pipeline pipe(*g_transport, po);
  if (serve_unless_driver(pipe)) return;
  const std::vector<std::pair<std::string, int>> jobs = {
      {"Once upon a time", 10}, {"Zoo", 30}, {"The little dog", 5}, {"Lily and Tom", 25}, {"One day", 15}};
  std::vector<std::string> got(jobs.size());
  std::vector<GenerateStats> stats(jobs.size());
  size_t next = 0, ended = 0;
  int joined_busy = 0;  // requests that started while another was generating
  pipe.drive(
      [&](int free, bool idle) {
        std::vector<pipeline::PipelineRequest> out;
        if (free < 1 || next == jobs.size()) return out;
        if (!idle) ++joined_busy;
        const size_t i = next++;
        pipeline::PipelineRequest r;
        r.prompt = pipe.model().tokenize(jobs[i].first, true, true);
        r.params = greedy(jobs[i].second);
        r.on_text = [&got, i](const std::string& t) {
          got[i] += t;
          return true;
        };
        r.on_done = [&stats, &ended, i](const GenerateStats& st) {
          stats[i] = st;
          ++ended;
        };
        out.push_back(std::move(r));
        return out;
      },
      [&] { return ended == jobs.size(); });
  for (size_t i = 0; i < jobs.size(); ++i) {
    EXPECT_EQ(got[i], single_process(jobs[i].first, jobs[i].second)) << jobs[i].first;
    EXPECT_EQ(stats[i].n_gen, jobs[i].second) << jobs[i].first;
  }
  EXPECT_GE(joined_busy, 3);
  pipe.finish();
}

// One request through drive() (any free sequence, as the server's requests): its text and statistics.
std::pair<std::string, GenerateStats> drive_one(pipeline::Pipeline& pipe, std::vector<int32_t> prompt,
                                                GenerateParams params) {
  std::string text;
  GenerateStats stats;
  bool admitted = false, ended = false;
  pipe.drive(
      [&](int free, bool) {
        std::vector<pipeline::PipelineRequest> out;
        if (admitted || free < 1) return out;
        admitted = true;
        pipeline::PipelineRequest r;
        r.prompt = prompt;
        r.params = params;
        r.on_text = [&text](const std::string& t) {
          text += t;
          return true;
        };
        r.on_done = [&](const GenerateStats& st) {
          stats = st;
          ended = true;
        };
        out.push_back(std::move(r));
        return out;
      },
      [&] { return ended; });
  return {text, stats};
}

// Prompt caching: a conversation's next turn goes to the sequence whose K/V (on every stage) hold its prefix and
// sends only the rest down the pipe; its text equals the single process's evaluation of the whole prompt.
TEST(PipelineDriver, SequencesInFlightReusePrefixes) {
  HEARTH_REQUIRE_FIXTURE(stories());
  pipeline::PipelineOptions po = stories_pipeline(2);
  pipeline::Pipeline pipe(*g_transport, po);
  if (serve_unless_driver(pipe)) return;
  const auto a = pipe.model().tokenize("Once upon a time, there was a little girl", true, true);
  const auto other = pipe.model().tokenize("The big dog ran to the park", true, true);
  auto [text_a, st_a] = drive_one(pipe, a, greedy(20));
  // The shared BOS does not make it take the first conversation's sequence: it goes to the empty one.
  auto [text_o, st_o] = drive_one(pipe, other, greedy(20));
  EXPECT_EQ(st_a.n_cached, 0);
  EXPECT_EQ(st_o.n_cached, 0);
  std::vector<int32_t> b = a;
  b.insert(b.end(), st_a.tokens.begin(), st_a.tokens.end());
  const auto more = pipe.model().tokenize(" She liked", false, true);
  b.insert(b.end(), more.begin(), more.end());
  auto [text_b, st_b] = drive_one(pipe, b, greedy(20));
  EXPECT_EQ(st_b.n_cached, static_cast<int>(a.size() + st_a.tokens.size() - 1));
  EXPECT_EQ(st_b.n_prompt + st_b.n_cached, static_cast<int>(b.size()));
  EXPECT_EQ(text_b, single_process("", 20, b));  // the whole prompt in one process
  GenerateParams off = greedy(20);
  off.cache_prompt = false;
  auto [text_c, st_c] = drive_one(pipe, b, off);
  EXPECT_EQ(st_c.n_cached, 0);
  EXPECT_EQ(text_c, text_b);
  // The other conversation's sequence was not touched.
  auto [text_o2, st_o2] = drive_one(pipe, other, greedy(20));
  EXPECT_EQ(st_o2.n_cached, static_cast<int>(other.size() - 1));
  EXPECT_EQ(text_o2, text_o);
  pipe.finish();
}

// JSON mode over the pipeline, sampled with top-k (the last stage then sends whole rows, since the constraint may
// mask any token): the same text as one process.
TEST(PipelineDriver, SequencesInFlightJsonMode) {
  HEARTH_REQUIRE_FIXTURE(stories());
  pipeline::PipelineOptions po = stories_pipeline(2);
  pipeline::Pipeline pipe(*g_transport, po);
  if (serve_unless_driver(pipe)) return;
  GenerateParams g;
  g.n_predict = 60;
  g.json = true;
  g.json_schema = R"({"properties":{"name":{"type":"string"},"age":{"type":"integer"}}})";
  g.sampling.temperature = 0.9f;
  g.sampling.top_k = 20;
  g.sampling.seed = 5;
  const auto prompt = pipe.model().tokenize("Lily and Tom", true, true);
  auto [text, st] = drive_one(pipe, prompt, g);
  EXPECT_NE(text.find("{"), std::string::npos) << text;
  const std::string want = single_process("", g, prompt);
  EXPECT_EQ(text, want);
  pipe.finish();
}

// Bad requests are errors on rank 0, before anything is sent.
TEST(PipelineDriver, BadRequestsAreErrors) {
  HEARTH_REQUIRE_FIXTURE(stories());
  if (g_transport->size() > 1) GTEST_SKIP() << "one rank only";
  pipeline::PipelineOptions po;
  po.model_path = stories();
  po.load.n_threads = 1;
  po.session.n_ctx = 16;
  po.session.n_seq = 1;
  pipeline::Pipeline pipe(*g_transport, po);
  std::vector<pipeline::PipelineRequest> reqs(2);
  EXPECT_THROW(pipe.generate(reqs), Error);  // more sequences than the stages hold
  reqs.resize(1);
  EXPECT_THROW(pipe.generate(reqs), Error);  // empty prompt
  reqs[0].prompt.assign(20, 1);
  reqs[0].params = greedy(4);
  reqs[0].on_text = [](const std::string&) { return true; };
  try {
    pipe.generate(reqs);
    ADD_FAILURE() << "a prompt longer than the context was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("longer than the context size 16"), std::string::npos) << e.what();
  }
  pipe.finish();
}

}  // namespace
}  // namespace hearth

#else

TEST(PipelineDriver, SequencesInFlightMatchSingleProcess) { GTEST_SKIP() << "hearth was built without MPI"; }

#endif

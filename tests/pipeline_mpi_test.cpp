// hearth run/bench --pipeline under mpirun: greedy output identical to one process with 1-4 ranks (stories260K
// against llama.cpp's text; a generated TinyLlama-like model against the single-process run), the wire types,
// placement errors, and ranks that die or stop answering. Skipped when hearth was built without MPI or mpirun
// is missing. Every command runs under `timeout` so that a hang fails instead of blocking the suite.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>

#include "mpi_test_util.h"

namespace hearth {
namespace {

using test::fixture;
using test::llama_cpp_text;
using test::mpirun;
using test::run_command;
using test::stories;
using test::trim;

TEST(PipelineMpi, Stories260KMatchesLlamaCppOn1To4Ranks) {
  REQUIRE_MPI();
  HEARTH_REQUIRE_FIXTURE(stories());
  const std::string expected = llama_cpp_text();
  for (int np = 1; np <= 4; ++np) {
    auto r = run_command(mpirun(np) + " run -m " + stories() +
                         " --pipeline -t 1 -p 'Once upon a time' -n 200 --temp 0 2>/dev/null");
    ASSERT_EQ(r.status, 0) << np << " ranks";
    EXPECT_EQ(trim(r.out), expected) << np << " ranks";
  }
}

// The prompt as micro-batches of 2 tokens flowing through the pipe, with explicit ranges.
TEST(PipelineMpi, MicroBatchesAndRanges) {
  REQUIRE_MPI();
  HEARTH_REQUIRE_FIXTURE(stories());
  const std::string expected = llama_cpp_text();
  auto r = run_command(mpirun(3) + " run -m " + stories() +
                       " --pipeline --ranges 0-0,1-3,4-4 -b 2 -t 1 -p 'Once upon a time' -n 200 --temp 0 2>/dev/null");
  ASSERT_EQ(r.status, 0);
  EXPECT_EQ(trim(r.out), expected);
}

// Ranks reading only their parts of a `hearth split` directory, and stages streaming their layers under a
// memory budget smaller than their layers (stories260K: 0.2 MiB per layer).
TEST(PipelineMpi, SplitDirectoryAndLayerStreaming) {
  REQUIRE_MPI();
  HEARTH_REQUIRE_FIXTURE(stories());
  const std::string expected = llama_cpp_text();
  const std::string dir = std::string(HEARTH_TEST_TMP) + "/pipeline-split";
  std::filesystem::remove_all(dir);
  auto s =
      run_command(std::string(HEARTH_BINARY) + " split " + stories() + " -o " + dir + " --per-layer >/dev/null 2>&1");
  ASSERT_EQ(s.status, 0);
  auto r =
      run_command(mpirun(3) + " run -m " + dir + " --pipeline -t 1 -p 'Once upon a time' -n 200 --temp 0 2>/dev/null");
  ASSERT_EQ(r.status, 0);
  EXPECT_EQ(trim(r.out), expected);
  for (const std::string& model : {stories(), dir}) {
    r = run_command(mpirun(2) + " run -m " + model +
                    " --pipeline --mem-budget 300K -t 1 -p 'Once upon a time' -n 200 --temp 0 2>/dev/null");
    ASSERT_EQ(r.status, 0) << model;
    EXPECT_EQ(trim(r.out), expected) << model;
  }
  r = run_command(mpirun(2) + " bench -m " + stories() +
                  " --pipeline --mem-budget 300K -t 1 -p 8 -n 4 -r 1 -o json 2>/dev/null");
  ASSERT_EQ(r.status, 0);
  auto j = nlohmann::json::parse(r.out, nullptr, false);
  ASSERT_TRUE(j.is_object()) << r.out;
  EXPECT_TRUE(j["stages"][0]["streaming"].get<bool>()) << r.out;  // 3 layers of 0.2 MiB under 300 KiB
  EXPECT_GT(j["stages"][0]["stream_bytes_read"].get<double>(), 0);
}

// A looped pipeline: each rank runs two layer ranges, the hidden state going around the ranks twice; resident,
// under a budget of one layer per rank (one lap resident, the next loading while the other rank computes), from a
// split directory, and with ranges given by hand.
TEST(PipelineMpi, LoopedPipelineMatchesLlamaCpp) {
  REQUIRE_MPI();
  HEARTH_REQUIRE_FIXTURE(stories());
  const std::string expected = llama_cpp_text();
  const std::string dir = std::string(HEARTH_TEST_TMP) + "/pipeline-split-looped";
  std::filesystem::remove_all(dir);
  ASSERT_EQ(run_command(std::string(HEARTH_BINARY) + " split " + stories() + " -o " + dir + " --per-layer >/dev/null 2>&1")
                .status,
            0);
  const std::string gen = " --pipeline -t 1 -p 'Once upon a time' -n 200 --temp 0 2>/dev/null";
  for (const std::string& extra : {std::string(" --laps 2"), std::string(" --laps 2 --mem-budget 300K"),
                                   std::string(" --laps 2 --ranges 0,1,2-3,4 -b 2")}) {
    for (const std::string& model : {stories(), dir}) {
      auto r = run_command(mpirun(2) + " run -m " + model + extra + gen);
      ASSERT_EQ(r.status, 0) << extra << " " << model;
      EXPECT_EQ(trim(r.out), expected) << extra << " " << model;
    }
  }
  auto r = run_command(mpirun(2) + " run -m " + stories() + " --pipeline --laps 2 -t 1 -p 'Once upon a time' -n 2 2>&1");
  EXPECT_NE(r.out.find("layers 0-0, 3-3 + embeddings"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("layers 1-2, 4-4 + output"), std::string::npos) << r.out;
  r = run_command(mpirun(2) + " bench -m " + stories() +
                  " --pipeline --laps 2 --mem-budget 300K -t 1 -p 8 -n 4 -r 1 -o json 2>/dev/null");
  ASSERT_EQ(r.status, 0);
  auto j = nlohmann::json::parse(r.out, nullptr, false);
  ASSERT_TRUE(j.is_object()) << r.out;
  EXPECT_TRUE(j["stages"][1]["streaming"].get<bool>()) << r.out;
  // Ranges that do not give every rank the same number of laps, and more laps than layers.
  r = run_command(mpirun(2) + " run -m " + stories() + " --pipeline --laps 2 --ranges 0-1,2-4 -p hi -n 2 2>&1");
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.out.find("2 layer ranges for 2 ranks x 2 laps"), std::string::npos) << r.out;
  r = run_command(mpirun(2) + " run -m " + stories() + " --pipeline --laps 3 -p hi -n 2 2>&1");
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.out.find("at most one lap per layer"), std::string::npos) << r.out;
}

// Sampling with a temperature, top-k and repetition penalties: rank 0 draws from the candidates the last stage
// sends back, and the text is the one process's, token for token (same seed).
TEST(PipelineMpi, SampledTextMatchesOneProcess) {
  REQUIRE_MPI();
  HEARTH_REQUIRE_FIXTURE(stories());
  const std::string args = " -m " + stories() +
                           " -t 1 -p 'Once upon a time' -n 120 --temp 0.9 --seed 7 --top-k 40 --repeat-penalty 1.3 "
                           "--presence-penalty 0.2 2>/dev/null";
  auto single = run_command(std::string(HEARTH_BINARY) + " run" + args);
  ASSERT_EQ(single.status, 0);
  ASSERT_GT(single.out.size(), 100u);
  for (const std::string& ranks : {std::string("2"), std::string("3"), std::string("2 --laps 2")}) {
    auto r = run_command(mpirun(ranks[0] - '0') + " run --pipeline" + ranks.substr(1) + args);
    ASSERT_EQ(r.status, 0) << ranks;
    EXPECT_EQ(r.out, single.out) << ranks;
  }
}

TEST(PipelineMpi, GeneratedModelMatchesSingleProcess) {
  REQUIRE_MPI();
  HEARTH_REQUIRE_FIXTURE(stories());
  const std::string gen = std::filesystem::path(HEARTH_BINARY).parent_path() / "hearth-gen";
  if (!std::filesystem::exists(gen)) GTEST_SKIP() << "hearth-gen not built";
  std::filesystem::create_directories(HEARTH_TEST_TMP);
  const std::string model = std::string(HEARTH_TEST_TMP) + "/pipeline-gen-q8_0.gguf";
  // TinyLlama's proportions (GQA 32/4 heads, ff = 2.75 n_embd), scaled down to run in a second.
  auto g = run_command(gen +
                       " --shape tiny --type q8_0 --n-embd 256 --n-layer 6 --n-head 8 --n-head-kv 1 --n-ff 704 "
                       "--vocab " +
                       stories() + " -t 1 -o " + model + " >/dev/null");
  ASSERT_EQ(g.status, 0);
  const std::string args = " -m " + model + " -t 1 -p 'Once upon a time' -n 40 --temp 0";
  auto single = run_command(std::string(HEARTH_BINARY) + " run" + args + " 2>/dev/null");
  ASSERT_EQ(single.status, 0);
  ASSERT_FALSE(trim(single.out).empty());
  for (int np : {1, 2, 3, 4}) {
    auto r = run_command(mpirun(np) + " run --pipeline" + args + " 2>/dev/null");
    ASSERT_EQ(r.status, 0) << np << " ranks";
    EXPECT_EQ(r.out, single.out) << np << " ranks";
  }
  for (int np : {2, 3}) {
    auto r = run_command(mpirun(np) + " run --pipeline --laps 2" + args + " 2>/dev/null");
    ASSERT_EQ(r.status, 0) << np << " ranks x 2 laps";
    EXPECT_EQ(r.out, single.out) << np << " ranks x 2 laps";
  }
}

// Several sequences in flight, prompts in micro-batches, cleared and reused, prefixes reused: the driver test
// under mpirun.
TEST(PipelineMpi, DriverSequencesOn2And3Ranks) {
  REQUIRE_MPI();
  HEARTH_REQUIRE_FIXTURE(stories());
  const std::string driver = HEARTH_TEST_DRIVER;
  if (!std::filesystem::exists(driver)) GTEST_SKIP() << "pipeline_driver_test not built";
  for (int np : {2, 3}) {
    auto r =
        run_command(mpirun(np, "", driver) + " --gtest_color=no --gtest_filter=PipelineDriver.SequencesInFlight* 2>&1");
    EXPECT_EQ(r.status, 0) << np << " ranks:\n" << r.out;
    // Four pipelines one after the other on the same transport (prompt caching, JSON mode).
    EXPECT_NE(r.out.find("[  PASSED  ] 4 tests"), std::string::npos) << r.out;
  }
  // A looped pipeline, each rank streaming its two laps through one slot.
  auto r = run_command(mpirun(2, "HEARTH_TEST_LAPS=2 HEARTH_TEST_MEM_BUDGET=300000", driver) +
                       " --gtest_color=no --gtest_filter=PipelineDriver.SequencesInFlightMatch* 2>&1");
  EXPECT_EQ(r.status, 0) << "2 ranks x 2 laps:\n" << r.out;
  EXPECT_NE(r.out.find("[  PASSED  ] 1 test"), std::string::npos) << r.out;
}

// `hearth run --pipeline` without a prompt: the chat, each turn continuing the stages' KV caches, prints what the
// one-process chat prints.
TEST(PipelineMpi, ChatMatchesOneProcess) {
  REQUIRE_MPI();
  HEARTH_REQUIRE_FIXTURE(stories());
  const std::string input = "printf 'Hello\\nTell me a story\\nAnd then?\\n' | ";
  const std::string opts = " -m " + stories() + " --temp 0 -n 20 -t 1 2>/dev/null";
  auto single = run_command(input + HEARTH_BINARY + " run" + opts);
  ASSERT_EQ(single.status, 0);
  ASSERT_GE(std::count(single.out.begin(), single.out.end(), '\n'), 3) << single.out;
  for (const std::string& ranks : {std::string("2"), std::string("3"), std::string("2 --laps 2")}) {
    const int np = ranks[0] - '0';
    const std::string extra = ranks.size() > 1 ? ranks.substr(1) : "";
    auto r = run_command(input + mpirun(np) + " run --pipeline" + extra + opts);
    ASSERT_EQ(r.status, 0) << ranks;
    EXPECT_EQ(r.out, single.out) << ranks;
  }
}

nlohmann::json bench_json(int np, const std::string& extra) {
  auto r = run_command(mpirun(np) + " bench -m " + stories() + " --pipeline -t 1 -p 8 -n 8 -r 1 -o json " + extra +
                       " 2>/dev/null");
  EXPECT_EQ(r.status, 0) << extra;
  auto j = nlohmann::json::parse(r.out, nullptr, false);
  EXPECT_TRUE(j.is_object()) << r.out;
  return j;
}

// Smaller wire types send fewer bytes per token: the hidden state of stories260K is 64 values per token.
TEST(PipelineMpi, WireTypesAndBench) {
  REQUIRE_MPI();
  HEARTH_REQUIRE_FIXTURE(stories());
  auto f32 = bench_json(2, "--wire f32");
  auto f16 = bench_json(2, "--wire f16");
  auto q8 = bench_json(2, "--wire q8_0 --parallel 2");
  if (!f32.is_object() || !f16.is_object() || !q8.is_object()) return;
  const double b32 = f32["wire_bytes_per_token"], b16 = f16["wire_bytes_per_token"], b8 = q8["wire_bytes_per_token"];
  EXPECT_GT(b32, 64 * 4);  // the payload alone
  EXPECT_LT(b16, b32 - 64 * 2 * 0.9);
  EXPECT_LT(b8, b16);
  EXPECT_EQ(f32["stages"].size(), 2u);
  EXPECT_EQ(f32["tests"].size(), 2u);
  EXPECT_GT(f32["tests"][0]["avg_ts"].get<double>(), 0);
  EXPECT_EQ(q8["tests"][0]["test"], "pp8 x2");
  // The last stage returns only the logits rank 0's sampler can draw from (top-k 40 of 512), not whole rows:
  // 9 sampled rows would be 9 x 2 KiB.
  EXPECT_LT(f32["stages"][1]["data_bytes_sent"].get<double>(), 9 * 512 * 4 / 2) << f32.dump();
  // Greedy text through an 8-bit wire still reads as the story (not compared token by token).
  auto r = run_command(mpirun(2) + " run -m " + stories() +
                       " --pipeline --wire q8_0 -t 1 -p 'Once upon a time' -n 20 --temp 0 2>/dev/null");
  EXPECT_EQ(r.status, 0);
  EXPECT_FALSE(trim(r.out).empty());
}

TEST(PipelineMpi, BadPlacementIsAClearError) {
  REQUIRE_MPI();
  HEARTH_REQUIRE_FIXTURE(stories());
  auto r = run_command(mpirun(2) + " run -m " + stories() + " --pipeline --ranges 0-4 -p hi -n 2 2>&1");
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.out.find("--ranges gives 1 layer ranges for 2 ranks"), std::string::npos) << r.out;
  r = run_command(mpirun(2) + " run -m " + stories() + " --pipeline --wire q4 -p hi -n 2 2>&1");
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.out.find("wire"), std::string::npos) << r.out;
  r = run_command(mpirun(2) + " run -m /nonexistent.gguf --pipeline -p hi -n 2 2>&1");
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.out.find("/nonexistent.gguf"), std::string::npos) << r.out;
}

// A stage that stops answering after its third micro-batch: rank 0 names it within the timeout.
TEST(PipelineMpi, SilentRankIsNamed) {
  REQUIRE_MPI();
  HEARTH_REQUIRE_FIXTURE(stories());
  auto r = run_command(mpirun(3, "HEARTH_TEST_PIPELINE_FAIL=2:hang:3") + " run -m " + stories() +
                       " --pipeline --stage-timeout 2 -t 1 -p 'Once upon a time' -n 50 --temp 0 2>&1");
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.status, 124) << "timed out: the run hung";
  EXPECT_NE(r.out.find("stage 2 (rank 2"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("did not answer within 2 s"), std::string::npos) << r.out;
}

// A slow stage with work queued is not an error: rank 0's wait passes the timeout, the stages answer its ping,
// and it waits on (5 prompt micro-batches of 0.7 s on rank 2 against a timeout of 2 s).
TEST(PipelineMpi, SlowButAliveStageIsWaitedFor) {
  REQUIRE_MPI();
  HEARTH_REQUIRE_FIXTURE(stories());
  auto r = run_command(mpirun(3, "HEARTH_TEST_PIPELINE_FAIL=2:slow:0") + " run -m " + stories() +
                       " --pipeline --stage-timeout 2 -b 1 -t 1 -p 'Once upon a time' -n 2 --temp 0 2>&1");
  EXPECT_EQ(r.status, 0) << r.out;
  const std::string text = r.out.substr(r.out.find('\n') + 1);  // after the plan line
  const std::string first = text.substr(0, text.find('\n'));
  EXPECT_FALSE(first.empty()) << r.out;
  EXPECT_EQ(llama_cpp_text().rfind(first, 0), 0u) << r.out;
}

// A stage that fails reports its error to rank 0, which prints it naming the stage and ends the job.
TEST(PipelineMpi, FailingStageIsNamed) {
  REQUIRE_MPI();
  HEARTH_REQUIRE_FIXTURE(stories());
  const std::string args =
      " run -m " + stories() + " --pipeline --stage-timeout 2 -t 1 -p 'Once upon a time' -n 50 --temp 0 2>&1";
  auto r = run_command(mpirun(3, "HEARTH_TEST_PIPELINE_FAIL=2:error:0") + args);  // when opening its layers
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.status, 124) << "timed out: the run hung";
  EXPECT_NE(r.out.find("error: stage 2 (rank 2"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("layers 3-4): test failure after 0 micro-batches"), std::string::npos) << r.out;
  r = run_command(mpirun(3, "HEARTH_TEST_PIPELINE_FAIL=1:error:4") + args);  // while generating
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.status, 124) << "timed out: the run hung";
  EXPECT_NE(r.out.find("error: stage 1 (rank 1"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("test failure after 4 micro-batches"), std::string::npos) << r.out;
}

// A stage that dies. By default mpirun notices the lost process and ends the job, naming it; with
// orte_abort_on_non_zero_status off (the job outlives a process), rank 0 finds the silent stage and names it.
TEST(PipelineMpi, DeadRankEndsTheRun) {
  REQUIRE_MPI();
  HEARTH_REQUIRE_FIXTURE(stories());
  const std::string args =
      " run -m " + stories() + " --pipeline --stage-timeout 2 -t 1 -p 'Once upon a time' -n 50 --temp 0 2>&1";
  auto r = run_command(mpirun(3, "HEARTH_TEST_PIPELINE_FAIL=1:exit:3") + args);
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.status, 124) << "timed out: the run hung";
  EXPECT_NE(r.out.find(",1],1]"), std::string::npos) << r.out;  // mpirun's "Process name: [[job,1],1]"
  EXPECT_NE(r.out.find("Exit code:    3"), std::string::npos) << r.out;
  r = run_command(mpirun(3, "HEARTH_TEST_PIPELINE_FAIL=1:exit:3 OMPI_MCA_orte_abort_on_non_zero_status=0") + args);
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.status, 124) << "timed out: the run hung";
  EXPECT_NE(r.out.find("error: stage 1 (rank 1"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("did not answer within 2 s"), std::string::npos) << r.out;
}

}  // namespace
}  // namespace hearth

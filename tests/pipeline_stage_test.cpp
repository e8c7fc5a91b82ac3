// Pipeline stages in one process: a chain of 1 to 4 stages (the hidden state handed over in memory) must
// decode exactly what the ordinary single-model run decodes, with every layer resident and with layer
// streaming under a memory budget.
#include <gtest/gtest.h>

#include <cstring>

#include "gguf/gguf.h"

#include "pipeline/stage.h"
#include "pipeline_test_util.h"
#include "placement/layer_stream.h"

namespace hearth {
namespace {

using pipeline::Stage;
using pipeline::StageSpec;
using test::fixture;

const char* kStories = "stories260K/stories260K.gguf";

std::vector<int32_t> bos_only() { return {1}; }

size_t total(const std::vector<size_t>& v) {
  size_t t = 0;
  for (size_t b : v) t += b;
  return t;
}

TEST(PlanStages, ContiguousBalancedRanges) {
  auto s = pipeline::plan_stages({10, 10, 10, 10, 10, 10, 10, 10}, 4);
  ASSERT_EQ(s.size(), 4u);
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(s[i].layer_begin, 2 * i);
    EXPECT_EQ(s[i].layer_end, 2 * i + 2);
    EXPECT_EQ(s[i].input, i == 0);
    EXPECT_EQ(s[i].output, i == 3);
  }
  // Uneven bytes: the heavy layer gets a stage of its own, every stage keeps at least one layer.
  auto u = pipeline::plan_stages({1, 1, 1, 30, 1, 1}, 3);
  ASSERT_EQ(u.size(), 3u);
  EXPECT_EQ(u[0].layer_begin, 0);
  EXPECT_EQ(u[2].layer_end, 6);
  for (size_t i = 0; i + 1 < u.size(); ++i) EXPECT_EQ(u[i].layer_end, u[i + 1].layer_begin);
  for (const auto& r : u) EXPECT_LT(r.layer_begin, r.layer_end);
  EXPECT_THROW(pipeline::plan_stages({1, 1}, 3), Error);
  EXPECT_THROW(pipeline::plan_stages({1, 1}, 0), Error);
}

TEST(ParseStageRanges, AcceptsContiguousCover) {
  auto s = pipeline::parse_stage_ranges("0-9,10-21", 22);
  ASSERT_EQ(s.size(), 2u);
  EXPECT_EQ(s[0].layer_begin, 0);
  EXPECT_EQ(s[0].layer_end, 10);
  EXPECT_EQ(s[1].layer_begin, 10);
  EXPECT_EQ(s[1].layer_end, 22);
  EXPECT_TRUE(s[0].input && !s[0].output && !s[1].input && s[1].output);
  EXPECT_EQ(pipeline::parse_stage_ranges("0,1-3,4", 5).size(), 3u);
}

TEST(ParseStageRanges, RejectsBadInputWithAClearError) {
  for (const char* bad : {"", "0-9", "0-9,11-21", "0-9,10-22", "5-0", "0-9,", "a-b", "0-9;10-21", "0--3",
                          "0-99999999999,"}) {
    try {
      pipeline::parse_stage_ranges(bad, 22);
      ADD_FAILURE() << "accepted '" << bad << "'";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("invalid layer ranges"), std::string::npos) << e.what();
    }
  }
}

TEST(LayerGroups, BudgetDecidesGroupsAndSlots) {
  std::vector<size_t> layers(8, 100);
  // Two slots of 200 bytes: two layers a group, 4 groups (a multiple of the slots).
  LayerGroups g = plan_layer_groups(layers, 400, 0);
  EXPECT_EQ(g.n_slots, 2);
  EXPECT_EQ(g.n_groups(), 4);
  EXPECT_EQ(g.slot_bytes, 200u);
  EXPECT_EQ(g.begin.front(), 0);
  EXPECT_EQ(g.begin.back(), 8);
  // Room for one layer only: one slot, no prefetch.
  LayerGroups one = plan_layer_groups(layers, 150, 0);
  EXPECT_EQ(one.n_slots, 1);
  EXPECT_EQ(one.n_groups(), 8);
  // Five layers and two slots of one layer: five groups (cannot be a multiple of two).
  LayerGroups five = plan_layer_groups(std::vector<size_t>(5, 100), 200, 2);
  EXPECT_EQ(five.n_groups(), 5);
  for (int i = 0; i < five.n_groups(); ++i) EXPECT_LE(five.begin[i + 1] - five.begin[i], 1);
  EXPECT_THROW(plan_layer_groups(layers, 99, 1), Error);
  EXPECT_THROW(plan_layer_groups(layers, 300, 4), Error);
}

// stories260K: 1, 2, 3 and 4 stages decode llama2.c's 200 greedy ids.
TEST(PipelineStage, Stories260KChainsMatchLlama2c) {
  const std::string path = fixture(kStories);
  HEARTH_REQUIRE_FIXTURE(path);
  auto expected = test::read_ids(fixture("stories260K/expected/run_t0_n200.generated_ids.txt"));
  ASSERT_EQ(expected.size(), 200u);
  const auto bytes = pipeline::layer_bytes_of(path);
  ASSERT_EQ(bytes.size(), 5u);
  test::GreedyRun single = test::greedy_single(path, bos_only(), 200, test::cpu_load());
  EXPECT_EQ(single.ids, expected);
  for (int n = 1; n <= 4; ++n) {
    auto stages = test::open_chain(path, pipeline::plan_stages(bytes, n), test::cpu_load());
    // Only the first stage holds the embeddings, only the last the head; ranges tile the model.
    EXPECT_EQ(stages.front()->shape().layer_begin, 0);
    EXPECT_EQ(stages.back()->shape().layer_end, 5);
    test::GreedyRun chain = test::greedy_chain(stages, bos_only(), 200);
    EXPECT_EQ(chain.ids, expected) << n << " stages";
    EXPECT_EQ(test::max_abs_diff(chain, single), 0.0f) << n << " stages";
  }
}

// A TinyLlama-proportioned generated model: stage chains equal the single-model run (ids and logits).
TEST(PipelineStage, TinyLlamaShapedChainsMatchSingleRun) {
  const std::string path = test::tinyllama_shaped();
  const std::vector<int32_t> prompt = {1, 17, 300, 42, 999, 5, 64};
  test::GreedyRun single = test::greedy_single(path, prompt, 24, test::cpu_load());
  const auto bytes = pipeline::layer_bytes_of(path);
  ASSERT_EQ(bytes.size(), 8u);
  for (int n = 1; n <= 4; ++n) {
    auto stages = test::open_chain(path, pipeline::plan_stages(bytes, n), test::cpu_load());
    test::GreedyRun chain = test::greedy_chain(stages, prompt, 24);
    EXPECT_EQ(chain.ids, single.ids) << n << " stages";
    EXPECT_EQ(test::max_abs_diff(chain, single), 0.0f) << n << " stages";
  }
  // Uneven ranges given by hand.
  auto stages = test::open_chain(path, pipeline::parse_stage_ranges("0,1-5,6-7", 8), test::cpu_load());
  EXPECT_EQ(test::greedy_chain(stages, prompt, 24).ids, single.ids);
}

// A looped pipeline: rank r runs the virtual stages r, r + n, ... as its laps, the hidden state going around the
// ranks once per lap (stories260K: 2 ranks x 2 laps; TinyLlama shape: 2 x 2 and 2 x 4), resident and streamed.
TEST(PipelineStage, LoopedStagesMatchTheSingleRun) {
  const std::string path = fixture(kStories);
  HEARTH_REQUIRE_FIXTURE(path);
  auto expected = test::read_ids(fixture("stories260K/expected/run_t0_n200.generated_ids.txt"));
  auto specs = pipeline::loop_stages(pipeline::parse_stage_ranges("0,1,2-3,4", 5), 2);
  ASSERT_EQ(specs.size(), 2u);
  EXPECT_EQ(specs[0].laps, (std::vector<std::pair<int, int>>{{0, 1}, {2, 4}}));
  EXPECT_EQ(specs[1].laps, (std::vector<std::pair<int, int>>{{1, 2}, {4, 5}}));
  EXPECT_TRUE(specs[0].input && !specs[0].output && !specs[1].input && specs[1].output);
  auto stages = test::open_chain(path, specs, test::cpu_load());
  EXPECT_EQ(stages[1]->shape().laps.size(), 2u);
  EXPECT_EQ(test::greedy_loop(stages, bos_only(), 200).ids, expected);
  // Each rank under a budget of one layer: it holds one lap at a time and loads its next lap while the other
  // rank computes.
  for (auto& spec : specs) spec.mem_budget = pipeline::layer_bytes_of(path)[0] + 4096;
  stages = test::open_chain(path, specs, test::cpu_load());
  EXPECT_EQ(test::greedy_loop(stages, bos_only(), 200).ids, expected);
  EXPECT_TRUE(stages[0]->stream_stats().streaming);
  EXPECT_EQ(stages[0]->stream_stats().n_slots, 1);

  const std::string tiny = test::tinyllama_shaped();
  const std::vector<int32_t> prompt = {1, 17, 300, 42, 999, 5, 64};
  test::GreedyRun single = test::greedy_single(tiny, prompt, 24, test::cpu_load(false));
  const auto bytes = pipeline::layer_bytes_of(tiny);
  for (int laps : {2, 4}) {
    auto looped = pipeline::loop_stages(pipeline::plan_stages(bytes, 2 * laps), 2);
    for (auto& spec : looped) spec.mem_budget = total(bytes) / (2 * laps) + 4096;  // one lap resident
    auto st = test::open_chain(tiny, looped, test::cpu_load(false));
    test::GreedyRun r = test::greedy_loop(st, prompt, 24);
    EXPECT_EQ(r.ids, single.ids) << laps << " laps";
    EXPECT_EQ(test::max_abs_diff(r, single), 0.0f) << laps << " laps";
  }
  EXPECT_THROW(pipeline::loop_stages(pipeline::plan_stages(bytes, 3), 2), Error);
  // A lap out of range, and token ids where a lap needs the hidden state.
  std::vector<float> hidden(stages[0]->shape().n_embd);
  int32_t tok = 1, pos = 0, seq = 0;
  EXPECT_THROW(stages[0]->forward_lap(2, &tok, nullptr, &pos, &seq, 1, hidden.data(), {}, nullptr), Error);
  EXPECT_THROW(stages[0]->forward_lap(1, &tok, nullptr, &pos, &seq, 1, hidden.data(), {}, nullptr), Error);
}

TEST(PipelineStage, ShapeAndTokenizerAvailability) {
  const std::string path = fixture(kStories);
  HEARTH_REQUIRE_FIXTURE(path);
  auto stages = test::open_chain(path, pipeline::parse_stage_ranges("0-1,2-4", 5), test::cpu_load());
  const auto& s0 = stages[0]->shape();
  EXPECT_EQ(s0.n_embd, 64);
  EXPECT_EQ(s0.n_vocab, 512);
  EXPECT_EQ(s0.n_layer, 5);
  EXPECT_EQ(s0.layer_end, 2);
  EXPECT_GT(s0.layer_bytes, 0u);
  EXPECT_EQ(s0.resident_bytes, s0.layer_bytes);
  ASSERT_NE(stages[0]->model(), nullptr);
  EXPECT_EQ(stages[0]->model()->tokenize("Once upon a time", true, false),
            (std::vector<int32_t>{1, 403, 407, 261, 378}));
  EXPECT_FALSE(stages[0]->stream_stats().streaming);
}

TEST(PipelineStage, BadCallsGiveClearErrors) {
  const std::string path = fixture(kStories);
  HEARTH_REQUIRE_FIXTURE(path);
  auto stages = test::open_chain(path, pipeline::parse_stage_ranges("0-1,2-4", 5), test::cpu_load());
  int32_t tok = 1, pos = 0, seq = 0;
  std::vector<float> hidden(64), logits(512);
  // The second stage needs a hidden state; the first a hidden_out buffer; ids must be in the vocabulary.
  EXPECT_THROW(stages[1]->forward(&tok, nullptr, &pos, &seq, 1, nullptr, {0}, logits.data()), Error);
  EXPECT_THROW(stages[0]->forward(&tok, nullptr, &pos, &seq, 1, nullptr, {}, nullptr), Error);
  int32_t bad = 600;
  EXPECT_THROW(stages[0]->forward(&bad, nullptr, &pos, &seq, 1, hidden.data(), {}, nullptr), Error);
  int32_t bad_seq = 3, bad_pos = 100000;
  EXPECT_THROW(stages[0]->forward(&tok, nullptr, &pos, &bad_seq, 1, hidden.data(), {}, nullptr), Error);
  EXPECT_THROW(stages[0]->forward(&tok, nullptr, &bad_pos, &seq, 1, hidden.data(), {}, nullptr), Error);
  EXPECT_THROW(stages[0]->forward(&tok, nullptr, &pos, &seq, 0, hidden.data(), {}, nullptr), Error);
  EXPECT_THROW(stages[0]->clear_seq(5), Error);
  StageSpec outside;
  outside.layer_begin = 3;
  outside.layer_end = 9;
  EXPECT_THROW(Stage::open(path, outside, test::cpu_load(), test::stage_params(64)), Error);
  EXPECT_THROW(Stage::open(test::tmp_dir("pipeline") + "/no-such.gguf", StageSpec{}, test::cpu_load(),
                           test::stage_params(64)),
               Error);
}

// Layer streaming: a budget that holds a fraction of the layers gives the same tokens. Streamed layers are used
// as they are in the file (not repacked), so logits are compared bit for bit with a run without repacking.
TEST(LayerStreaming, Stories260KUnderBudgetMatchesLlama2c) {
  const std::string path = fixture(kStories);
  HEARTH_REQUIRE_FIXTURE(path);
  auto expected = test::read_ids(fixture("stories260K/expected/run_t0_n200.generated_ids.txt"));
  const size_t layers = total(pipeline::layer_bytes_of(path));
  test::GreedyRun plain = test::greedy_single(path, bos_only(), 200, test::cpu_load(false));
  for (size_t budget : {layers / 4, layers / 2}) {
    StageSpec spec;
    spec.mem_budget = budget;
    auto stages = test::open_chain(path, {spec}, test::cpu_load());
    test::GreedyRun r = test::greedy_chain(stages, bos_only(), 200);
    EXPECT_EQ(r.ids, expected) << "budget " << budget;
    EXPECT_EQ(test::max_abs_diff(r, plain), 0.0f);
    pipeline::StreamStats st = stages[0]->stream_stats();
    EXPECT_TRUE(st.streaming);
    EXPECT_GE(st.n_groups, 2);
    // Every token's pass loads every group (except those still resident from the previous pass).
    EXPECT_GE(st.groups_loaded, 200u * (st.n_groups - st.n_slots));
    EXPECT_GE(st.bytes_read, 200u * (layers / 5));
    EXPECT_LE(stages[0]->shape().resident_bytes, budget + 64 * 64);
  }
  // The ordinary Model + Session path streams with LoadParams::mem_budget too (hearth run --mem-budget).
  LoadParams lp = test::cpu_load();
  lp.mem_budget = layers / 3;
  EXPECT_EQ(test::greedy_single(path, bos_only(), 200, lp).ids, expected);
}

TEST(LayerStreaming, TinyLlamaShapedStagesUnderBudget) {
  const std::string path = test::tinyllama_shaped();
  const std::vector<int32_t> prompt = {1, 17, 300, 42, 999, 5, 64};
  // Without repacking anywhere, so that the resident head is used the same way in both runs.
  test::GreedyRun plain = test::greedy_single(path, prompt, 24, test::cpu_load(false));
  const auto bytes = pipeline::layer_bytes_of(path);
  const size_t layers = total(bytes);
  for (int n : {1, 2}) {
    auto specs = pipeline::plan_stages(bytes, n);
    // One stage: a quarter of the layers (2 of 8, in two slots); two stages: half of each stage's 4 layers.
    // (A little slack: tensors are aligned to 64 bytes in a slot.)
    for (auto& s : specs) s.mem_budget = layers / 4 + 4096;
    auto stages = test::open_chain(path, specs, test::cpu_load(false));
    test::GreedyRun r = test::greedy_chain(stages, prompt, 24);
    EXPECT_EQ(r.ids, plain.ids) << n << " stages";
    EXPECT_EQ(test::max_abs_diff(r, plain), 0.0f) << n << " stages";
    for (auto& s : stages) {
      EXPECT_TRUE(s->stream_stats().streaming);
      EXPECT_EQ(s->stream_stats().n_slots, 2);
    }
  }
  StageSpec tiny;
  tiny.mem_budget = 1000;  // less than one layer
  EXPECT_THROW(Stage::open(path, tiny, test::cpu_load(), test::stage_params(64)), Error);
}

// The stream driven by hand: after before_layer(l), layer l's tensors hold exactly the file's bytes; a pass that
// stops halfway (an error inside the forward pass) leaves the schedule mid-way, and the next pass resynchronizes.
TEST(LayerStreaming, SlotsHoldTheFileBytesAndResyncAfterAnAbortedPass) {
  const std::string path = fixture(kStories);
  HEARTH_REQUIRE_FIXTURE(path);
  auto f = GgufFile::open(path);
  std::vector<StreamLayer> layers;
  size_t bytes = 0;
  for (int l = 0; l < 5; ++l) {
    StreamLayer sl;
    sl.layer = l;
    for (const GgufTensor& t : f->tensors())
      if (std::string(t.name).rfind("blk." + std::to_string(l) + ".", 0) == 0)
        sl.tensors.push_back({std::string(t.name), path, f->data_offset() + t.offset, t.nbytes});
    bytes += sl.bytes();
    layers.push_back(sl);
  }
  LayerStream stream(layers, bytes / 2, 2);
  ASSERT_GE(stream.groups().n_groups(), 3);
  auto check = [&](int l) {
    for (const StreamTensor& t : layers[l].tensors) {
      const void* at = nullptr;
      for (const auto& [name, p] : stream.placements())
        if (name == t.name) at = p;
      ASSERT_NE(at, nullptr) << t.name;
      EXPECT_EQ(std::memcmp(at, f->find_tensor(t.name)->data, t.nbytes), 0) << t.name;
    }
  };
  auto pass = [&] {
    for (int l = 0; l < 5; ++l) {
      stream.before_layer(l);
      check(l);
      stream.after_layer(l);
    }
  };
  pass();
  pass();
  stream.before_layer(0);
  check(0);
  stream.after_layer(0);
  stream.before_layer(1);  // aborted here: layer 1 never finishes
  pass();
  pass();
  LayerStreamStats st = stream.stats();
  EXPECT_GE(st.groups_loaded, static_cast<uint64_t>(3 * st.n_groups));
  EXPECT_GT(st.bytes_read, 3 * bytes / 2);
}

}  // namespace
}  // namespace hearth

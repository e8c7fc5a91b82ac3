// The real stories260K model must generate exactly what llama2.c and llama.cpp generate.
#include <algorithm>

#include "hearth/model.h"
#include "hearth/session.h"
#include "greedy_util.h"
#include "test_util.h"

namespace hearth {
namespace {

using test::fixture;

SessionParams sparams(int n_ctx, int n_batch, int n_seq) {
  SessionParams p;
  p.n_ctx = n_ctx;
  p.n_batch = n_batch;
  p.n_seq = n_seq;
  return p;
}

using test::argmax;

std::vector<int> greedy_from_bos(const std::string& path, int n, bool kv_f32, int n_threads) {
  return test::greedy_from_bos_cpu(path, n, n_threads, kv_f32);
}

TEST(Stories260K, GreedyIdsMatchLlama2cF32) {
  std::string path = fixture("stories260K/stories260K.gguf");
  HEARTH_REQUIRE_FIXTURE(path);
  auto expected = test::read_ids(fixture("stories260K/expected/run_t0_n200.generated_ids.txt"));
  ASSERT_EQ(expected.size(), 200u);
  EXPECT_EQ(greedy_from_bos(path, 200, true, 1), expected);
  EXPECT_EQ(greedy_from_bos(path, 200, false, 2), expected);
}

TEST(Stories260K, GreedyIdsMatchLlama2cF16File) {
  std::string path = fixture("stories260K/quantized-by-llama.cpp-c392e50/stories260K-F16.gguf");
  HEARTH_REQUIRE_FIXTURE(path);
  auto expected = test::read_ids(fixture("stories260K/expected/run_t0_n200.generated_ids.txt"));
  EXPECT_EQ(greedy_from_bos(path, 200, false, 2), expected);
}

TEST(Stories260K, PromptTokenization) {
  std::string path = fixture("stories260K/stories260K.gguf");
  HEARTH_REQUIRE_FIXTURE(path);
  auto model = Model::load(path, LoadParams{.n_threads = 1, .n_gpu_layers = 0, .gpu_mem_limit = 0, .n_ctx = 0, .split_mode = "layer", .tensor_split = {}});
  EXPECT_EQ(model->tokenize("Once upon a time", true, false), (std::vector<int32_t>{1, 403, 407, 261, 378}));
}

// A prompt evaluated as one batch gives the same next token as one token at a time.
TEST(Stories260K, BatchedPromptMatchesStepwise) {
  std::string path = fixture("stories260K/stories260K.gguf");
  HEARTH_REQUIRE_FIXTURE(path);
  auto model = Model::load(path, LoadParams{.n_threads = 2, .n_gpu_layers = 0, .gpu_mem_limit = 0, .n_ctx = 0, .split_mode = "layer", .tensor_split = {}});
  auto ids = test::read_ids(fixture("stories260K/expected/run_t0_n200.generated_ids.txt"));
  std::vector<int32_t> prompt = {1};
  prompt.insert(prompt.end(), ids.begin(), ids.begin() + 40);
  Session a(*model, sparams(128, 512, 1));
  Session b(*model, sparams(128, 7, 1));
  std::vector<float> all(prompt.size() * a.n_vocab());
  a.decode_all(prompt, all.data());
  for (size_t i = 0; i + 1 < prompt.size(); ++i)
    EXPECT_EQ(argmax(&all[i * a.n_vocab()], a.n_vocab()), prompt[i + 1]) << "position " << i;
  const float* last = b.decode(prompt);
  EXPECT_EQ(argmax(last, b.n_vocab()), ids[40]);
}

// Two sequences in one batch give the same tokens as each alone (continuous batching).
TEST(Stories260K, MultiSequenceBatch) {
  std::string path = fixture("stories260K/stories260K.gguf");
  HEARTH_REQUIRE_FIXTURE(path);
  auto model = Model::load(path, LoadParams{.n_threads = 2, .n_gpu_layers = 0, .gpu_mem_limit = 0, .n_ctx = 0, .split_mode = "layer", .tensor_split = {}});
  auto expected = test::read_ids(fixture("stories260K/expected/run_t0_n200.generated_ids.txt"));
  Session s(*model, sparams(64, 512, 2));
  std::vector<int32_t> cur = {model->bos(), model->bos()};
  std::vector<float> logits(2 * s.n_vocab());
  // Sequence 1 starts three steps late.
  for (int step = 0; step < 40; ++step) {
    std::vector<BatchToken> batch;
    batch.push_back({cur[0], 0, true});
    if (step >= 3) batch.push_back({cur[1], 1, true});
    s.decode_batch(batch, logits.data());
    cur[0] = argmax(&logits[0], s.n_vocab());
    EXPECT_EQ(cur[0], expected[step]);
    if (step >= 3) {
      cur[1] = argmax(&logits[s.n_vocab()], s.n_vocab());
      EXPECT_EQ(cur[1], expected[step - 3]);
    }
  }
}

TEST(Stories260K, ContextOverflowIsAnError) {
  std::string path = fixture("stories260K/stories260K.gguf");
  HEARTH_REQUIRE_FIXTURE(path);
  auto model = Model::load(path, LoadParams{.n_threads = 1, .n_gpu_layers = 0, .gpu_mem_limit = 0, .n_ctx = 0, .split_mode = "layer", .tensor_split = {}});
  Session s(*model, sparams(16, 512, 1));
  std::vector<int32_t> prompt(17, 1);
  EXPECT_THROW(s.decode(prompt), Error);
  EXPECT_EQ(s.n_past(), 0);
}

// The CLI prints exactly llama.cpp's continuation of the prompt.
TEST(Stories260K, CliRunMatchesLlamaCpp) {
  std::string path = fixture("stories260K/stories260K.gguf");
  HEARTH_REQUIRE_FIXTURE(path);
  std::string ref = test::read_text(
      fixture("stories260K/expected/llama.cpp-c392e50/stories260K.llama-simple_n200_prompt-Once-upon-a-time.txt"));
  const std::string prefix = "<s> Once upon a time";
  ASSERT_EQ(ref.rfind(prefix, 0), 0u);
  std::string expected = ref.substr(prefix.size());
  while (!expected.empty() && expected.back() == '\n') expected.pop_back();
  auto r = test::run_command(std::string(HEARTH_BINARY) + " run -m " + path +
                             " -p 'Once upon a time' -n 200 --temp 0 2>/dev/null");
  ASSERT_EQ(r.status, 0);
  while (!r.out.empty() && r.out.back() == '\n') r.out.pop_back();
  EXPECT_EQ(r.out, expected);
}

TEST(Stories260K, CliErrorsAreOneLine) {
  auto bad = test::run_command(std::string(HEARTH_BINARY) + " run -m /nonexistent.gguf -p hi 2>&1");
  EXPECT_NE(bad.status, 0);
  EXPECT_NE(bad.out.find("error: /nonexistent.gguf: cannot open"), std::string::npos) << bad.out;
  std::string path = fixture("stories260K/stories260K.gguf");
  HEARTH_REQUIRE_FIXTURE(path);
  auto longp = test::run_command(std::string(HEARTH_BINARY) + " run -m " + path +
                                 " -c 8 -p 'Once upon a time there was a little girl' 2>&1");
  EXPECT_NE(longp.status, 0);
  EXPECT_NE(longp.out.find("longer than the context size 8"), std::string::npos) << longp.out;
}

}  // namespace
}  // namespace hearth

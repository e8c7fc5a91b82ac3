// Perplexity and KL divergence: the statistics against hand-computed values, and stories260K's perplexity on
// tests/data/ppl-story.txt against llama.cpp's llama-perplexity on the same file and text.
#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <numbers>

#include "hearth/perplexity.h"
#include "test_util.h"

namespace hearth {
namespace {

namespace fs = std::filesystem;
using test::fixture;

const double kLn2 = std::numbers::ln2;

std::string story_path() { return (fs::path(__FILE__).parent_path() / "data" / "ppl-story.txt").string(); }

// The text as llama-perplexity reads it (less one trailing newline), tokenized with BOS.
std::vector<int32_t> story_tokens(const Model& m) {
  std::string text = test::read_text(story_path());
  if (!text.empty() && text.back() == '\n') text.pop_back();
  return m.tokenize(text, true, false);
}

std::unique_ptr<Model> load_cpu(const std::string& path) {
  LoadParams lp;
  lp.n_gpu_layers = 0;
  return Model::load(path, lp);
}

PerplexityParams params(int n_ctx, int n_batch, bool kv_f32 = false) {
  PerplexityParams p;
  p.n_ctx = n_ctx;
  p.n_batch = n_batch;
  p.kv_f32 = kv_f32;
  return p;
}

// --- statistics ---

TEST(PerplexityStats, LogSoftmaxHandValues) {
  const std::vector<float> logits = {1, 2, 3};
  std::vector<double> out(3);
  log_softmax(logits, out);
  const double log_z = 3 + std::log(1 + std::exp(-1.0) + std::exp(-2.0));  // 3.4076059644...
  EXPECT_NEAR(out[0], 1 - log_z, 1e-12);
  EXPECT_NEAR(out[1], 2 - log_z, 1e-12);
  EXPECT_NEAR(out[2], -0.40760596444, 1e-10);
  EXPECT_NEAR(log_prob(logits, 2), out[2], 1e-12);
  EXPECT_NEAR(log_prob(logits, 0), -2.40760596444, 1e-10);
  // Large logits stay finite: two equal ones are each log(1/2).
  const std::vector<float> big = {1000, 1000};
  EXPECT_NEAR(log_prob(big, 1), -kLn2, 1e-12);
  EXPECT_THROW(log_prob(logits, 3), Error);
}

TEST(PerplexityStats, MeanAndStandardError) {
  MeanAccumulator a;
  EXPECT_EQ(a.standard_error(), 0.0);
  for (double v : {1.0, 2.0, 3.0, 4.0}) a.add(v);
  EXPECT_DOUBLE_EQ(a.mean(), 2.5);
  // E[x^2] - E[x]^2 = 7.5 - 6.25 = 1.25; standard error sqrt(1.25 / 3).
  EXPECT_NEAR(a.standard_error(), 0.6454972244, 1e-10);
  MeanAccumulator same;
  for (int i = 0; i < 5; ++i) same.add(0.7);
  EXPECT_EQ(same.standard_error(), 0.0);
}

// Three positions over a vocabulary of 4 whose target probabilities are 1/4, 1/2 and 1/8: negative
// log-likelihoods 2, 1 and 3 times ln 2, so the mean is 2 ln 2 (PPL 4) and the standard error ln 2 / sqrt(3).
TEST(PerplexityStats, NllOfMadeUpLogits) {
  const float l1 = 0, l2 = std::log(2.0f), l4 = std::log(4.0f);
  const std::vector<std::vector<float>> rows = {{0, 0, 0, 0}, {l1, l1, l2, l4}, {l1, l1, l2, l4}};
  const std::vector<int32_t> targets = {2, 3, 0};
  MeanAccumulator nll;
  for (size_t i = 0; i < rows.size(); ++i) nll.add(-log_prob(rows[i], targets[i]));
  EXPECT_NEAR(nll.mean(), 2 * kLn2, 1e-6);
  EXPECT_NEAR(nll.standard_error(), kLn2 / std::sqrt(3.0), 1e-6);
  EXPECT_NEAR(std::exp(nll.mean()), 4.0, 1e-5);
}

TEST(PerplexityStats, KlDivergence) {
  std::vector<double> p(2), q(2), r(3);
  log_softmax(std::vector<float>{0, 0}, p);               // (1/2, 1/2)
  log_softmax(std::vector<float>{0, std::log(3.0f)}, q);  // (1/4, 3/4)
  EXPECT_NEAR(kl_divergence(p, p), 0.0, 1e-15);
  // 1/2 ln(2) + 1/2 ln(2/3) = 1/2 ln(4/3)
  EXPECT_NEAR(kl_divergence(p, q), 0.5 * std::log(4.0 / 3.0), 1e-7);
  // 1/4 ln(1/2) + 3/4 ln(3/2)
  EXPECT_NEAR(kl_divergence(q, p), 0.25 * std::log(0.5) + 0.75 * std::log(1.5), 1e-7);
  EXPECT_THROW(kl_divergence(p, r), Error);
}

TEST(PerplexityStats, ArgmaxFirstOnTies) {
  EXPECT_EQ(argmax(std::vector<float>{1, 3, 3, 2}), 1u);
  EXPECT_EQ(argmax(std::vector<float>{-1}), 0u);
}

// --- stories260K against llama.cpp ---

// Reference from llama.cpp c392e50 (CPU build), on this file and text:
//   llama-perplexity -m ../shared/fixtures/stories260K/stories260K.gguf -f tests/data/ppl-story.txt
//                    -c 128 -t 2 -ctk f32 -ctv f32
// (LD_LIBRARY_PATH=/work/scratch/llama.cpp/build/bin; one command line, run from the repository root)
// (3325 tokens, 25 chunks of 128, batch 2048 = 16 sequences per pass):
const double kLlamaRunningPplKvF32[25] = {3.9049, 4.5406, 4.3382, 4.4164, 4.5781, 4.5542, 4.6783, 4.9473, 4.9447,
                                          4.9580, 5.0441, 5.1145, 5.0130, 4.9004, 4.7801, 4.8129, 4.8019, 4.7688,
                                          4.7503, 4.7433, 4.7772, 4.8110, 4.8168, 4.8104, 4.8333};
// "Final estimate: PPL = 4.8333 +/- 0.23218" with -ctk f32 -ctv f32, and "PPL = 4.8333 +/- 0.23217" without
// them (F16 KV cache, llama.cpp's default and hearth's).
const double kLlamaPpl = 4.8333, kLlamaPplErrKvF32 = 0.23218, kLlamaPplErrKvF16 = 0.23217;

TEST(PerplexityStories, RunningValuesMatchLlamaCppWithF32Cache) {
  const std::string path = fixture("stories260K/stories260K.gguf");
  HEARTH_REQUIRE_FIXTURE(path);
  auto model = load_cpu(path);
  const auto tokens = story_tokens(*model);
  ASSERT_EQ(tokens.size(), 3325u);
  ASSERT_EQ(tokens[0], model->bos());
  int calls = 0;
  const PerplexityResult r =
      perplexity(*model, tokens, params(128, 2048, true), [&](const PerplexityResult&) { ++calls; });
  EXPECT_EQ(calls, 25);
  EXPECT_EQ(r.n_chunks, 25);
  EXPECT_EQ(r.n_scored, 25u * 63u);
  ASSERT_EQ(r.chunk_ppl.size(), 25u);
  // llama.cpp prints 4 decimals: half a unit of rounding plus a little for arithmetic.
  for (int i = 0; i < 25; ++i) EXPECT_NEAR(r.chunk_ppl[i], kLlamaRunningPplKvF32[i], 1.5e-4) << "chunk " << i + 1;
  EXPECT_NEAR(r.ppl, kLlamaPpl, 1.5e-4);
  EXPECT_NEAR(r.ppl_err, kLlamaPplErrKvF32, 2e-5);
  EXPECT_NEAR(r.ppl, std::exp(r.nll), 1e-12);
  EXPECT_NEAR(r.ppl_err, r.ppl * r.nll_err, 1e-12);
}

// With an F16 cache hearth rounds less than llama.cpp (which also rounds Q and the attention weights to F16),
// so the values agree a little less closely.
TEST(PerplexityStories, MatchesLlamaCppWithF16Cache) {
  const std::string path = fixture("stories260K/stories260K.gguf");
  HEARTH_REQUIRE_FIXTURE(path);
  auto model = load_cpu(path);
  const PerplexityResult r = perplexity(*model, story_tokens(*model), params(128, 512));
  EXPECT_NEAR(r.ppl, kLlamaPpl, 1e-3);
  EXPECT_NEAR(r.ppl_err, kLlamaPplErrKvF16, 1e-4);
}

// Chunks evaluated one per pass, several per pass, or split over passes give the same numbers; --chunks
// limits the count without changing the chunks evaluated.
TEST(PerplexityStories, BatchingAndChunkLimit) {
  const std::string path = fixture("stories260K/stories260K.gguf");
  HEARTH_REQUIRE_FIXTURE(path);
  auto model = load_cpu(path);
  const auto tokens = story_tokens(*model);
  const PerplexityResult one = perplexity(*model, tokens, params(128, 128, true));
  for (int n_batch : {48, 512, 4096}) {
    const PerplexityResult r = perplexity(*model, tokens, params(128, n_batch, true));
    EXPECT_NEAR(r.ppl, one.ppl, 1e-4 * one.ppl) << "n_batch " << n_batch;
    EXPECT_NEAR(r.ppl_err, one.ppl_err, 1e-4 * one.ppl_err) << "n_batch " << n_batch;
  }
  PerplexityParams p = params(128, 512, true);
  p.n_chunks = 3;
  const PerplexityResult three = perplexity(*model, tokens, p);
  ASSERT_EQ(three.chunk_ppl.size(), 3u);
  EXPECT_EQ(three.n_chunks_total, 3);
  for (int i = 0; i < 3; ++i) EXPECT_NEAR(three.chunk_ppl[i], one.chunk_ppl[i], 1e-4 * one.chunk_ppl[i]);
}

TEST(PerplexityStories, BadInputs) {
  const std::string path = fixture("stories260K/stories260K.gguf");
  HEARTH_REQUIRE_FIXTURE(path);
  auto model = load_cpu(path);
  const auto tokens = story_tokens(*model);
  const auto expect_error = [&](std::span<const int32_t> t, const PerplexityParams& p, const std::string& what) {
    try {
      perplexity(*model, t, p);
      ADD_FAILURE() << "no error for " << what;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(what), std::string::npos) << e.what();
    }
  };
  // Fewer than 2 * n_ctx tokens.
  expect_error(std::span(tokens).first(255), params(128, 512), "needs at least 256");
  expect_error(model->tokenize("Once upon a time", true, false), params(128, 512), "has only 5 tokens");
  // More than the training context (2048).
  expect_error(tokens, params(4096, 512), "exceeds the model's training context 2048");
  expect_error(tokens, params(2, 512), "too small");
  expect_error(tokens, params(128, 0), "batch size");
}

// --- KL divergence ---

TEST(PerplexityKl, ModelAgainstItself) {
  const std::string path = fixture("stories260K/stories260K.gguf");
  HEARTH_REQUIRE_FIXTURE(path);
  auto model = load_cpu(path);
  const PerplexityResult r = kl_divergence(*model, *model, story_tokens(*model), params(128, 512));
  ASSERT_TRUE(r.has_base);
  EXPECT_LT(std::fabs(r.kl), 1e-9);
  EXPECT_LT(r.kl_max, 1e-9);
  EXPECT_EQ(r.top1, 1.0);
  EXPECT_EQ(r.top1_err, 0.0);
  EXPECT_DOUBLE_EQ(r.ppl, r.base_ppl);
  EXPECT_NEAR(r.log_ppl_ratio, 0.0, 1e-12);
  EXPECT_NEAR(r.ppl, kLlamaPpl, 1e-3);
  EXPECT_EQ(r.chunk_kl.size(), 25u);
}

// The fixture labelled Q6_K is Q8_0 + F16 (see ../shared/fixtures/README.md). llama.cpp c392e50, with its
// AMX matmul disabled (that path miscomputes these small odd-shaped tensors on AMX machines), reports
//   llama-perplexity -m stories260K.gguf -f tests/data/ppl-story.txt -c 128 --kl-divergence-base base.kld
//   llama-perplexity -m stories260K-Q6_K.gguf --kl-divergence-base base.kld --kl-divergence -c 128
//   Mean KLD: 0.000790 ± 0.000029, Same top p: 98.349 ± 0.321 %, Mean PPL(Q) 4.843248, PPL(base) 4.833342
TEST(PerplexityKl, Q8FixtureAgainstF32) {
  const std::string base_path = fixture("stories260K/stories260K.gguf");
  const std::string q_path = fixture("stories260K/quantized-by-llama.cpp-c392e50/stories260K-Q6_K.gguf");
  HEARTH_REQUIRE_FIXTURE(base_path);
  HEARTH_REQUIRE_FIXTURE(q_path);
  auto base = load_cpu(base_path);
  auto q = load_cpu(q_path);
  const PerplexityResult r = kl_divergence(*q, *base, story_tokens(*base), params(128, 512));
  EXPECT_GT(r.kl, 0.0);
  EXPECT_LT(r.kl, 0.01);
  EXPECT_NEAR(r.kl, 0.000790, 0.2 * 0.000790);  // llama.cpp's, within 20%
  EXPECT_GT(r.kl_err, 0.0);
  EXPECT_LT(r.kl_err, r.kl);
  EXPECT_GE(r.kl_max, r.kl_p99);
  EXPECT_GE(r.kl_p99, r.kl_median);
  EXPECT_GT(r.kl_median, 0.0);
  EXPECT_GT(r.top1, 0.95);
  EXPECT_LT(r.top1, 1.0);
  EXPECT_NEAR(r.top1, 0.98349, 0.02);
  EXPECT_NEAR(r.base_ppl, kLlamaPpl, 1e-3);
  EXPECT_NEAR(r.ppl, 4.8432, 0.02);
}

TEST(PerplexityKl, DifferentVocabulariesRejected) {
  const std::string path = fixture("stories260K/stories260K.gguf");
  const std::string other = fixture("random/llama-2-tiny-random.gguf");  // 32000 tokens
  HEARTH_REQUIRE_FIXTURE(path);
  HEARTH_REQUIRE_FIXTURE(other);
  auto model = load_cpu(path);
  auto base = load_cpu(other);
  try {
    kl_divergence(*model, *base, story_tokens(*model), params(128, 512));
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("vocabulary"), std::string::npos) << e.what();
  }
}

// --- the command ---

TEST(PerplexityCli, PrintsRunningValuesAndFinalEstimate) {
  const std::string path = fixture("stories260K/stories260K.gguf");
  HEARTH_REQUIRE_FIXTURE(path);
  if (!fs::exists(HEARTH_BINARY)) GTEST_SKIP() << "hearth binary not built: " << HEARTH_BINARY;
  auto r = test::run_command(std::string(HEARTH_BINARY) + " perplexity -m " + path + " -f " + story_path() +
                             " -c 128 -ngl 0 --kv-f32 2>/dev/null");
  ASSERT_EQ(r.status, 0);
  EXPECT_EQ(r.out.rfind("[1]3.9049,[2]4.5406,", 0), 0u) << r.out;
  EXPECT_NE(r.out.find(",[25]4.8333,\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("Final estimate: PPL = 4.8333 +/- 0.2321"), std::string::npos) << r.out;

  auto kl = test::run_command(std::string(HEARTH_BINARY) + " perplexity -m " + path + " --kl-base " + path +
                              " -f " + story_path() + " -c 128 -ngl 0 --chunks 4 2>/dev/null");
  ASSERT_EQ(kl.status, 0);
  EXPECT_NE(kl.out.find("Mean    KLD:   0.000000"), std::string::npos) << kl.out;
  EXPECT_NE(kl.out.find("Same top p: 100.000"), std::string::npos) << kl.out;
}

TEST(PerplexityCli, BadInputsGiveOneLineErrors) {
  const std::string path = fixture("stories260K/stories260K.gguf");
  HEARTH_REQUIRE_FIXTURE(path);
  if (!fs::exists(HEARTH_BINARY)) GTEST_SKIP() << "hearth binary not built: " << HEARTH_BINARY;
  fs::create_directories(HEARTH_TEST_TMP);
  const std::string short_text = std::string(HEARTH_TEST_TMP) + "/ppl-short.txt";
  std::ofstream(short_text) << "Once upon a time, there was a cat.\n";
  const std::string bin = std::string(HEARTH_BINARY) + " perplexity -ngl 0 ";
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"-m " + path + " -f /nonexistent.txt", "cannot open text file /nonexistent.txt"},
      {"-m /nonexistent.gguf -f " + story_path(), "nonexistent.gguf"},
      {"-m " + path + " -f " + short_text + " -c 128", "needs at least 256"},
      {"-m " + path + " -f " + story_path() + " -c 4096", "exceeds the model's training context"},
  };
  for (const auto& [args, what] : cases) {
    auto r = test::run_command(bin + args + " 2>&1 >/dev/null");
    EXPECT_NE(r.status, 0) << args;
    // One error line, the last thing printed (after the model's "loaded" line when it got that far).
    const size_t at = r.out.find("error: ");
    ASSERT_NE(at, std::string::npos) << r.out;
    EXPECT_TRUE(at == 0 || r.out[at - 1] == '\n') << r.out;
    EXPECT_EQ(r.out.find('\n', at), r.out.size() - 1) << r.out;
    EXPECT_NE(r.out.find(what, at), std::string::npos) << r.out;
  }
}

}  // namespace
}  // namespace hearth

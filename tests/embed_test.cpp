// Embeddings of stories260K against llama.cpp's llama-embedding (c392e50): mean, last and cls pooling,
// L2-normalized and raw. The reference vectors are llama.cpp's output, stored with the commands that printed
// them in tests/data/embeddings_stories260K.json.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "hearth/embed.h"
#include "hearth/error.h"
#include "hearth/session.h"
#include "test_util.h"

namespace hearth {
namespace {

const std::string kModel = test::fixture("stories260K/stories260K.gguf");

std::string data_path() {
  return (std::filesystem::path(__FILE__).parent_path() / "data" / "embeddings_stories260K.json").string();
}

double cosine(const std::vector<float>& a, const std::vector<float>& b) {
  double ab = 0, aa = 0, bb = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    ab += static_cast<double>(a[i]) * b[i];
    aa += static_cast<double>(a[i]) * a[i];
    bb += static_cast<double>(b[i]) * b[i];
  }
  return ab / std::sqrt(aa * bb);
}

double max_abs_diff(const std::vector<float>& a, const std::vector<float>& b) {
  double m = 0;
  for (size_t i = 0; i < a.size(); ++i) m = std::max(m, static_cast<double>(std::fabs(a[i] - b[i])));
  return m;
}

class EmbedTest : public ::testing::Test {
 protected:
  void SetUp() override {
    HEARTH_REQUIRE_FIXTURE(kModel);
    LoadParams lp;
    lp.n_threads = 1;
    lp.n_gpu_layers = 0;
    model_ = Model::load(kModel, lp);
    std::ifstream f(data_path());
    ASSERT_TRUE(f) << data_path();
    ref_ = nlohmann::json::parse(f);
    for (const auto& p : ref_["prompts"]) inputs_.push_back(embed_tokenize(*model_, p.get<std::string>()));
  }
  std::unique_ptr<Model> model_;
  nlohmann::json ref_;
  std::vector<std::vector<int32_t>> inputs_;
};

TEST_F(EmbedTest, TokenizesAsLlamaCpp) {
  // llama-tokenize (c392e50) of "Once upon a time" with BOS, from the fixture's expected outputs.
  EXPECT_EQ(inputs_[0], (std::vector<int32_t>{1, 403, 407, 261, 378}));
}

TEST_F(EmbedTest, MatchesLlamaEmbedding) {
  ASSERT_EQ(ref_["runs"].size(), 5u);
  for (const auto& run : ref_["runs"]) {
    EmbedParams p;
    p.pooling = parse_pooling(run["pooling"].get<std::string>());
    p.normalize = run["embd_normalize"].get<int>() == 2;
    SCOPED_TRACE(run["command"].get<std::string>());
    const auto got = embed(*model_, inputs_, p);
    const auto& want = run["embeddings"];
    ASSERT_EQ(got.size(), want.size());
    for (size_t i = 0; i < got.size(); ++i) {
      const auto expected = want[i].get<std::vector<float>>();
      ASSERT_EQ(got[i].size(), expected.size());
      EXPECT_GT(cosine(got[i], expected), 0.9999) << "input " << i;
      // Relative to the largest component (about 10 before normalization): both engines keep the KV cache in
      // F16 and sum in different orders, which moves the raw values by a few 1e-4 of their size.
      double scale = 0.0;
      for (float x : expected) scale = std::max(scale, static_cast<double>(std::fabs(x)));
      EXPECT_LT(max_abs_diff(got[i], expected), 5e-4 * scale) << "input " << i;
      std::printf("%s pooling, %s: input %zu max abs diff %.2e (largest component %.3f)\n", pooling_name(p.pooling),
                  p.normalize ? "normalized" : "raw", i, max_abs_diff(got[i], expected), scale);
    }
  }
}

TEST_F(EmbedTest, BatchedEqualsOneAtATime) {
  // All three inputs in one forward pass (one sequence each) vs each alone, and split across small batches.
  const auto together = embed(*model_, inputs_);
  EmbedParams small;
  small.n_batch = 4;  // inputs continue across passes through their KV cache
  small.max_seqs = 1;
  const auto split = embed(*model_, inputs_, small);
  for (size_t i = 0; i < inputs_.size(); ++i) {
    const auto alone = embed(*model_, {inputs_[i]});
    EXPECT_LT(max_abs_diff(together[i], alone[0]), 1e-5) << "input " << i;
    EXPECT_LT(max_abs_diff(split[i], alone[0]), 1e-5) << "input " << i;
  }
}

TEST_F(EmbedTest, NormalizedToUnitLength) {
  for (const auto& v : embed(*model_, inputs_)) {
    double n = 0;
    for (float x : v) n += static_cast<double>(x) * x;
    EXPECT_NEAR(std::sqrt(n), 1.0, 1e-5);
  }
}

TEST_F(EmbedTest, BadInputsThrow) {
  EXPECT_THROW(embed(*model_, {{}}), Error);
  EXPECT_THROW(embed(*model_, {{1, 100000}}), Error);
  EXPECT_THROW(embed(*model_, {{1, -1}}), Error);
  EmbedParams p;
  p.n_ctx = 3;
  EXPECT_THROW(embed(*model_, {{1, 2, 3, 4}}, p), Error);
  EXPECT_THROW(parse_pooling("max"), Error);
  EXPECT_TRUE(embed(*model_, {}).empty());
}

TEST_F(EmbedTest, RunsBesideAGeneratingSession) {
  // The server embeds on a second session while its scheduler generates on the first: the passes take turns,
  // so both give what they give alone.
  Session gen(*model_, {});
  std::vector<int32_t> prompt = inputs_[0];
  std::vector<float> alone_logits;
  {
    Session ref(*model_, {});
    const float* l = ref.decode(prompt);
    alone_logits.assign(l, l + ref.n_vocab());
  }
  const auto alone = embed(*model_, inputs_);
  std::vector<std::vector<float>> concurrent;
  std::thread t([&] {
    for (int i = 0; i < 20; ++i) concurrent = embed(*model_, inputs_);
  });
  for (int i = 0; i < 20; ++i) {
    gen.truncate(0, 0);
    const float* l = gen.decode(prompt);
    for (int j = 0; j < gen.n_vocab(); ++j) ASSERT_EQ(l[j], alone_logits[j]) << "round " << i;
  }
  t.join();
  for (size_t i = 0; i < alone.size(); ++i) EXPECT_EQ(concurrent[i], alone[i]);
}

}  // namespace
}  // namespace hearth

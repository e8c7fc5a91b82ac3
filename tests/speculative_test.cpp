// Speculative decoding (generate_speculative): stories260K drafted by llama.cpp's quantizations of itself gives
// llama2.c's greedy ids, and with sampling the same text as generate() with the same seed; the draft's
// acceptance is counted; a draft with another vocabulary, or no draft tokens, is an error.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "hearth/error.h"
#include "hearth/generate.h"
#include "hearth/model.h"
#include "hearth/session.h"
#include "llama_gen.h"
#include "greedy_util.h"
#include "test_util.h"

namespace hearth {
namespace {

using test::fixture;

const std::string kStories = "stories260K/stories260K.gguf";
const std::string kQ4KM = "stories260K/quantized-by-llama.cpp-c392e50/stories260K-Q4_K_M.gguf";


GenerateParams greedy(int n) {
  GenerateParams gp;
  gp.n_predict = n;
  gp.sampling.temperature = 0;
  return gp;
}

GenerateStats speculate(Model& m, Model& d, const std::vector<int32_t>& prompt, const GenerateParams& gp, int k,
                        std::string* text = nullptr, int n_ctx = 0) {
  SessionParams sp;
  sp.n_ctx = n_ctx;
  Session s(m, sp), ds(d, sp);
  return generate_speculative(s, ds, prompt, gp, k, [&](const std::string& t) {
    if (text) *text += t;
    return true;
  });
}

TEST(Speculative, GreedyIdsAreLlama2csWhateverTheDraft) {
  HEARTH_REQUIRE_FIXTURE(fixture(kStories));
  const auto expected = test::read_ids(fixture("stories260K/expected/run_t0_n200.generated_ids.txt"));
  auto m = test::load_cpu(fixture(kStories));
  for (const std::string& draft : {kQ4KM, kStories}) {
    auto d = test::load_cpu(fixture(draft));
    for (int k : {1, 3, 8}) {
      const GenerateStats st = speculate(*m, *d, {1}, greedy(200), k);
      EXPECT_EQ(std::vector<int>(st.tokens.begin(), st.tokens.end()), expected) << draft << " k " << k;
      EXPECT_GT(st.n_accepted, 0);
      EXPECT_LE(st.n_accepted, st.n_drafted);
      if (draft == kStories) {  // drafting for itself: all accepted but the last round's, cut by n_predict
        EXPECT_GE(st.n_accepted, st.n_drafted - k) << "k " << k;
      }
    }
  }
}

TEST(Speculative, SampledTextIsGeneratesWithTheSameSeed) {
  HEARTH_REQUIRE_FIXTURE(fixture(kQ4KM));
  auto m = test::load_cpu(fixture(kStories));
  auto d = test::load_cpu(fixture(kQ4KM));
  const std::vector<int32_t> prompt = m->tokenize("Once upon a time", true, false);
  for (uint64_t seed : {1u, 42u, 777u}) {
    GenerateParams gp = greedy(120);
    gp.sampling.temperature = 1.0f;
    gp.sampling.seed = seed;
    gp.sampling.repeat_penalty = 1.1f;  // penalties see the same accepted tokens
    std::string plain, drafted;
    Session s(*m, SessionParams{});
    const GenerateStats want = generate(s, prompt, gp, [&](const std::string& t) { return plain += t, true; });
    const GenerateStats got = speculate(*m, *d, prompt, gp, 6, &drafted);
    EXPECT_EQ(got.tokens, want.tokens) << "seed " << seed;
    EXPECT_EQ(drafted, plain);
    EXPECT_EQ(got.stop_reason, want.stop_reason);
  }
}

TEST(Speculative, StopsAtTheContextAndInJsonMode) {
  HEARTH_REQUIRE_FIXTURE(fixture(kQ4KM));
  auto m = test::load_cpu(fixture(kStories));
  auto d = test::load_cpu(fixture(kQ4KM));
  // A 32-token context: the draft proposes no further than it allows, and the text ends where generate()'s does.
  const GenerateStats st = speculate(*m, *d, {1}, greedy(-1), 8, nullptr, 32);
  SessionParams small;
  small.n_ctx = 32;
  Session plain_ctx(*m, small);
  const std::vector<int32_t> bos = {1};
  const GenerateStats want = generate(plain_ctx, bos, greedy(-1), [](const std::string&) { return true; });
  EXPECT_EQ(st.stop_reason, "context");
  EXPECT_EQ(st.tokens, want.tokens);
  GenerateParams gp = greedy(40);
  gp.json = true;
  std::string text;
  speculate(*m, *d, m->tokenize("Once upon a time", true, false), gp, 4, &text);
  std::string plain;
  Session s(*m, SessionParams{});
  generate(s, m->tokenize("Once upon a time", true, false), gp, [&](const std::string& t) { return plain += t, true; });
  EXPECT_EQ(text, plain);
  EXPECT_EQ(text.find_first_not_of(" \n\t"), text.find('{'));
}

TEST(Speculative, AnotherVocabularyOrNoDraftTokensIsAnError) {
  HEARTH_REQUIRE_FIXTURE(fixture(kStories));
  gen::GenOptions opt;
  opt.shape = gen::shape_preset("stories");  // stories260K's shape, a synthetic vocabulary of the same size
  opt.file_type = gen::file_type_from_name("f32");
  opt.threads = 1;
  const std::string path = std::string(HEARTH_TEST_TMP) + "/speculative-other-vocab." + std::to_string(::getpid()) +
                           ".gguf";
  gen::generate_llama(opt, path);
  auto m = test::load_cpu(fixture(kStories));
  auto other = test::load_cpu(path);
  try {
    speculate(*m, *other, {1}, greedy(4), 4);
    ADD_FAILURE() << "a draft with another vocabulary was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("same vocabulary"), std::string::npos) << e.what();
  }
  EXPECT_THROW(speculate(*m, *m, {1}, greedy(4), 0), Error);
  std::remove(path.c_str());
}

}  // namespace
}  // namespace hearth

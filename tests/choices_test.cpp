// score_choices against the definition, computed another way: each choice appended to the prompt in a fresh
// session, every position's logits read with decode_all, the log-softmax summed in double precision. Also the
// sequence copy it relies on (Session::copy_sequence).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "hearth/choices.h"
#include "hearth/error.h"
#include "hearth/model.h"
#include "hearth/session.h"
#include "greedy_util.h"
#include "test_util.h"

namespace hearth {
namespace {

using test::fixture;

std::unique_ptr<Model> stories() { return test::load_cpu(fixture("stories260K/stories260K.gguf")); }

// log P(choice | prompt) from one whole evaluation of prompt + choice.
double reference_logprob(Model& m, const std::vector<int32_t>& prompt, const std::vector<int32_t>& choice) {
  std::vector<int32_t> all = prompt;
  all.insert(all.end(), choice.begin(), choice.end());
  Session s(m, SessionParams{});
  const int V = s.n_vocab();
  std::vector<float> logits(all.size() * V);
  s.decode_all(all, logits.data());
  double lp = 0;
  for (size_t i = 0; i < choice.size(); ++i) {
    const float* row = logits.data() + (prompt.size() - 1 + i) * V;
    double mx = row[0], sum = 0;
    for (int v = 0; v < V; ++v) mx = std::max(mx, static_cast<double>(row[v]));
    for (int v = 0; v < V; ++v) sum += std::exp(row[v] - mx);
    lp += row[choice[i]] - mx - std::log(sum);
  }
  return lp;
}

TEST(Choices, ScoresAreTheLogProbabilitiesOfEachContinuation) {
  HEARTH_REQUIRE_FIXTURE(fixture("stories260K/stories260K.gguf"));
  auto m = stories();
  // The greedy text goes on "... a little girl named Lily."
  const std::vector<int32_t> prompt = m->tokenize("Once upon a time, there was a little girl named", true, false);
  const std::vector<std::string> choices = {"Lily", "Tom", "a big dog", "Sue and her mom went to the park"};
  const std::vector<ChoiceScore> got = score_choices(*m, prompt, choices);
  ASSERT_EQ(got.size(), choices.size());
  double sum = 0;
  size_t best = 0;
  for (size_t j = 0; j < got.size(); ++j) {
    EXPECT_EQ(got[j].text, choices[j]);
    EXPECT_EQ(got[j].tokens, m->tokenize(choices[j], false, false));
    EXPECT_NEAR(got[j].logprob, reference_logprob(*m, prompt, got[j].tokens), 2e-3) << choices[j];
    sum += got[j].probability;
    if (got[j].probability > got[best].probability) best = j;
  }
  EXPECT_NEAR(sum, 1.0, 1e-9);
  EXPECT_EQ(choices[best], "Lily");
  EXPECT_GT(got[best].probability, 0.5);
}

// hearth run --choice prints what score_choices gives, a line per choice.
TEST(Choices, HearthRunPrintsEachChoice) {
  HEARTH_REQUIRE_FIXTURE(fixture("stories260K/stories260K.gguf"));
  auto m = stories();
  const std::vector<int32_t> prompt = m->tokenize("Once upon a time, there was a little girl named", true, true);
  const std::vector<ChoiceScore> want = score_choices(*m, prompt, {"Lily", "Tom"});
  const auto r = test::run_command(std::string(HEARTH_BINARY) + " run -m " + fixture("stories260K/stories260K.gguf") +
                                   " -p 'Once upon a time, there was a little girl named' --choice Lily --choice Tom"
                                   " -t 2 2>/dev/null");
  ASSERT_EQ(r.status, 0);
  char line[2][256];
  std::snprintf(line[0], sizeof line[0], "Lily\t%.6f\t%.4f\n", want[0].probability, want[0].logprob);
  std::snprintf(line[1], sizeof line[1], "Tom\t%.6f\t%.4f\n", want[1].probability, want[1].logprob);
  EXPECT_EQ(r.out, std::string(line[0]) + line[1]);
  EXPECT_NE(test::run_command(std::string(HEARTH_BINARY) + " run -m " + fixture("stories260K/stories260K.gguf") +
                              " --choice Lily 2>/dev/null").status, 0);  // no prompt
}

TEST(Choices, BadInputIsAnError) {
  HEARTH_REQUIRE_FIXTURE(fixture("stories260K/stories260K.gguf"));
  auto m = stories();
  const std::vector<int32_t> prompt = {1, 403};
  EXPECT_THROW(score_choices(*m, prompt, {}), Error);
  EXPECT_THROW(score_choices(*m, prompt, {"yes", ""}), Error);
  EXPECT_THROW(score_choices(*m, {}, {"yes"}), Error);
}

TEST(Choices, CopiedSequenceContinuesLikeTheOriginal) {
  HEARTH_REQUIRE_FIXTURE(fixture("stories260K/stories260K.gguf"));
  auto m = stories();
  SessionParams sp;
  sp.n_seq = 3;
  Session s(*m, sp);
  const std::vector<int32_t> prompt = {1, 403, 407, 261, 378};
  s.decode(prompt, 0);
  s.copy_sequence(0, 2, 3);  // the first three positions
  EXPECT_EQ(s.n_past(2), 3);
  const int V = s.n_vocab();
  const std::vector<int32_t> rest = {261, 378, 432};
  std::vector<float> copied(rest.size() * V), fresh(rest.size() * V);
  s.decode_all(rest, copied.data(), 2);
  Session f(*m, SessionParams{});
  f.decode(std::vector<int32_t>{1, 403, 407}, 0);
  f.decode_all(rest, fresh.data(), 0);
  EXPECT_EQ(copied, fresh);
  EXPECT_THROW(s.copy_sequence(0, 1, 6), Error);  // more than sequence 0 holds
  EXPECT_THROW(s.copy_sequence(0, 3, 1), Error);  // no sequence 3
}

}  // namespace
}  // namespace hearth

// The local-model target on the real stories260K model: greedy text equals the llama2.c/llama.cpp reference,
// every request starts from an empty sequence, --ignore-eos generates max tokens, and the runner attributes a
// labelled estimate of energy per token.
#include <gtest/gtest.h>

#include <cmath>

#include "eval/local_target.h"
#include "eval/runner.h"
#include "test_util.h"

namespace hearth::eval {
namespace {

const std::string kModel = test::fixture("stories260K/stories260K.gguf");

std::string rtrim(std::string s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.pop_back();
  return s;
}

TEST(EvalLocal, GreedyTextMatchesReferenceEveryTime) {
  HEARTH_REQUIRE_FIXTURE(kModel);
  const std::string expected =
      rtrim(test::read_text(test::fixture("stories260K/expected/run_t0_prompt-Zoo_n60.stdout.txt")));
  auto target = make_local_target(kModel, {}, 0);
  EXPECT_EQ(target->device(), "CPU");
  EXPECT_EQ(target->n_gpu_layers(), 0);
  EXPECT_TRUE(target->local_energy());
  Request r;
  r.prompt = "Zoo";
  r.max_tokens = 60;
  r.temperature = 0;
  for (int i = 0; i < 2; ++i) {  // the second request must not see the first one's cache
    const Measurement m = target->run(r, nullptr);
    ASSERT_TRUE(m.ok) << m.error;
    // llama2.c's n60 counts the prompt's tokens too: the reference is a prefix of our 60 generated tokens.
    const std::string got = "Zoo" + m.text;
    EXPECT_EQ(got.substr(0, expected.size()), expected);
    EXPECT_GT(got.size(), expected.size());
    EXPECT_EQ(m.gen_tokens, 60);
    EXPECT_GT(m.prompt_tokens, 0);
    EXPECT_GT(m.gen_tps, 0);
    EXPECT_GT(m.ttft_ms, 0);
    EXPECT_GE(m.total_ms, m.ttft_ms);
  }
}

TEST(EvalLocal, IgnoreEosAndContextLimit) {
  HEARTH_REQUIRE_FIXTURE(kModel);
  auto target = make_local_target(kModel, {}, 128);
  Request r;
  r.prompt = "Once upon a time";
  r.max_tokens = 100;
  r.ignore_eos = true;
  Measurement m = target->run(r, nullptr);
  ASSERT_TRUE(m.ok) << m.error;
  EXPECT_EQ(m.gen_tokens, 100);
  r.max_tokens = 200;  // prompt + 200 > 128: an error for this request, not an exception
  m = target->run(r, nullptr);
  EXPECT_FALSE(m.ok);
  EXPECT_NE(m.error.find("exceed the context"), std::string::npos) << m.error;
  r.max_tokens = 50;
  int calls = 0;
  m = target->run(r, [&] { return ++calls > 5; });
  EXPECT_FALSE(m.ok);
  EXPECT_EQ(m.error, "cancelled");
}

TEST(EvalLocal, RunnerWithEstimatedEnergy) {
  HEARTH_REQUIRE_FIXTURE(kModel);
  TargetSpec spec;
  spec.label = "hearth stories260K";
  spec.kind = "hearth";
  spec.model = kModel;
  spec.open = [] { return make_local_target(kModel, {}, 0); };
  TargetSpec missing = spec;
  missing.label = "missing";
  missing.open = [] { return make_local_target("/nonexistent/model.gguf", {}, 0); };
  std::vector<std::unique_ptr<telemetry::EnergySource>> sources;
  sources.push_back(telemetry::make_estimate(10.0));
  telemetry::PowerSampler power(std::move(sources));
  RunOptions ro;
  ro.reps = 2;
  ro.ignore_eos = true;
  RunHooks hooks;
  hooks.power = &power;
  std::vector<RequestRecord> records;
  run_eval({spec, missing}, {{"a", "Zoo", 20, "short"}, {"b", "Once upon a time", 40, "long"}}, ro, hooks, records);
  ASSERT_EQ(records.size(), 5u);
  EXPECT_FALSE(records[0].m.ok);  // the target that cannot be opened is recorded first, the run goes on
  EXPECT_NE(records[0].m.error.find("cannot open target"), std::string::npos);
  for (size_t i = 1; i < 5; ++i) {
    const RequestRecord& r = records[i];
    ASSERT_TRUE(r.m.ok) << r.m.error;
    EXPECT_EQ(r.config, "hearth stories260K T=0");
    EXPECT_EQ(r.m.gen_tokens, r.prompt_id == "a" ? 20 : 40);
    EXPECT_EQ(r.energy_source, "estimate:10W (estimate)");
    EXPECT_GT(r.energy_j, 0);
    EXPECT_NEAR(r.mean_power_w, 10.0, 2.0);  // the estimate's wattage, over sampling granularity
    EXPECT_DOUBLE_EQ(r.j_per_token, r.energy_j / r.m.gen_tokens);
    EXPECT_NEAR(r.wh_per_token, r.j_per_token / 3600, 1e-15);
  }
}

}  // namespace
}  // namespace hearth::eval

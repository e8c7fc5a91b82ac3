// Mixture-of-experts routing (model/moe.h) against the definition: softmax over the experts, the k most probable,
// their probabilities renormalized over the chosen ones. The whole block is checked against llama.cpp by
// arch_reference_test (Mixtral- and Qwen3-MoE-shaped files).
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "model/moe.h"

namespace hearth {
namespace {

TEST(MoeRouting, TopKOfTheSoftmaxRenormalized) {
  // Two tokens, four experts.
  const std::vector<float> scores = {1.0f, 3.0f, 2.0f, -1.0f,   // token 0: experts 1, 2
                                     0.5f, 0.0f, 0.0f, 4.0f};  // token 1: experts 3, 0
  const Routing r = route_tokens(scores.data(), 2, 4, 2);
  ASSERT_EQ(r.tokens.size(), 4u);
  EXPECT_EQ(r.tokens[0], std::vector<int32_t>{1});
  EXPECT_EQ(r.tokens[1], std::vector<int32_t>{0});
  EXPECT_EQ(r.tokens[2], std::vector<int32_t>{0});
  EXPECT_EQ(r.tokens[3], std::vector<int32_t>{1});
  // Renormalized softmax: the chosen pair's weights are e^a / (e^a + e^b), whatever the others' scores.
  const double w1 = std::exp(3.0) / (std::exp(3.0) + std::exp(2.0));
  EXPECT_NEAR(r.weights[1][0], w1, 1e-6);
  EXPECT_NEAR(r.weights[2][0], 1 - w1, 1e-6);
  const double w3 = std::exp(4.0) / (std::exp(4.0) + std::exp(0.5));
  EXPECT_NEAR(r.weights[3][0], w3, 1e-6);
  EXPECT_NEAR(r.weights[0][0], 1 - w3, 1e-6);
}

TEST(MoeRouting, TiesGoToTheLowerExpertAndOneExpertGetsWeightOne) {
  const std::vector<float> scores = {2.0f, 5.0f, 5.0f, 5.0f};
  const Routing r = route_tokens(scores.data(), 1, 4, 1);
  EXPECT_EQ(r.tokens[1], std::vector<int32_t>{0});
  EXPECT_TRUE(r.tokens[2].empty() && r.tokens[3].empty() && r.tokens[0].empty());
  EXPECT_FLOAT_EQ(r.weights[1][0], 1.0f);
}

TEST(MoeRouting, LargeScoresDoNotOverflow) {
  const std::vector<float> scores = {1000.0f, 999.0f, -1000.0f};
  const Routing r = route_tokens(scores.data(), 1, 3, 2);
  ASSERT_EQ(r.weights[0].size(), 1u);
  EXPECT_NEAR(r.weights[0][0], 1 / (1 + std::exp(-1.0)), 1e-6);
  EXPECT_NEAR(r.weights[1][0], 1 - 1 / (1 + std::exp(-1.0)), 1e-6);
}

}  // namespace
}  // namespace hearth

// The sampler chain against hand-computed distributions.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "sampling/sampler.h"
#include "tokenizer/chat_template.h"

namespace hearth {
namespace {

SamplerParams plain(float temp) {
  SamplerParams p;
  p.temperature = temp;
  p.top_k = 0;
  p.top_p = 1.0f;
  p.min_p = 0.0f;
  p.seed = 1234;
  return p;
}

TEST(Sampler, GreedyPicksTheLargestLowestIdOnTies) {
  Sampler s(plain(0));
  std::vector<float> l = {0.5f, 2.0f, 2.0f, -1.0f};
  EXPECT_EQ(s.sample(l.data(), 4), 1);
}

TEST(Sampler, RepeatPenaltyDividesPositiveAndMultipliesNegative) {
  SamplerParams p = plain(0);
  p.repeat_penalty = 2.0f;
  Sampler s(p);
  s.accept(0);
  s.accept(2);
  std::vector<float> l = {3.0f, 2.0f, -1.0f};
  EXPECT_EQ(s.sample(l.data(), 3), 1);  // 3/2 = 1.5 < 2
  EXPECT_FLOAT_EQ(l[0], 1.5f);
  EXPECT_FLOAT_EQ(l[2], -2.0f);
}

TEST(Sampler, FrequencyAndPresencePenalties) {
  SamplerParams p = plain(0);
  p.frequency_penalty = 0.5f;
  p.presence_penalty = 0.25f;
  Sampler s(p);
  s.accept(1);
  s.accept(1);
  std::vector<float> l = {1.0f, 2.0f};
  s.sample(l.data(), 2);
  EXPECT_FLOAT_EQ(l[1], 2.0f - 2 * 0.5f - 0.25f);
}

// Empirical frequencies of a seeded sampler match softmax(logits / T) after top-k 2.
TEST(Sampler, TopKDistribution) {
  SamplerParams p = plain(1.0f);
  p.top_k = 2;
  Sampler s(p);
  const std::vector<float> logits = {std::log(3.0f), std::log(1.0f), std::log(0.5f)};
  int counts[3] = {0, 0, 0};
  const int n = 20000;
  for (int i = 0; i < n; ++i) {
    std::vector<float> l = logits;
    ++counts[s.sample(l.data(), 3)];
  }
  EXPECT_EQ(counts[2], 0);
  EXPECT_NEAR(counts[0] / double(n), 0.75, 0.015);
}

TEST(Sampler, TopPAndMinPCut) {
  // probabilities 0.5, 0.3, 0.2: top-p 0.7 keeps two; min-p 0.5 keeps those >= 0.25.
  const std::vector<float> logits = {std::log(0.5f), std::log(0.3f), std::log(0.2f)};
  for (int mode = 0; mode < 2; ++mode) {
    SamplerParams p = plain(1.0f);
    if (mode == 0) p.top_p = 0.7f;
    else p.min_p = 0.5f;
    Sampler s(p);
    int counts[3] = {0, 0, 0};
    for (int i = 0; i < 20000; ++i) {
      std::vector<float> l = logits;
      ++counts[s.sample(l.data(), 3)];
    }
    EXPECT_EQ(counts[2], 0) << mode;
    EXPECT_NEAR(counts[0] / 20000.0, 0.5 / 0.8, 0.015) << mode;
  }
}

TEST(Sampler, SeededRunsRepeat) {
  std::vector<int> a, b;
  for (auto* out : {&a, &b}) {
    Sampler s(plain(1.0f));
    for (int i = 0; i < 50; ++i) {
      std::vector<float> l = {0.1f, 0.2f, 0.3f, 0.4f};
      out->push_back(s.sample(l.data(), 4));
    }
  }
  EXPECT_EQ(a, b);
}

TEST(ChatTemplate, DetectsFamilies) {
  EXPECT_EQ(chat_format_detect("{{ '<|start_header_id|>' + message['role'] }}"), ChatFormat::Llama3);
  EXPECT_EQ(chat_format_detect("{{'<|im_start|>' + message['role']}}"), ChatFormat::ChatML);
  EXPECT_EQ(chat_format_detect("[INST] <<SYS>>"), ChatFormat::Llama2);
  EXPECT_EQ(chat_format_detect("{{ '[INST] ' + content }}"), ChatFormat::Mistral);
  EXPECT_EQ(chat_format_detect("<|user|>{{content}}<|end|>"), ChatFormat::Phi3);
  EXPECT_EQ(chat_format_detect("<|user|>\n{{content}}</s>"), ChatFormat::Zephyr);
  EXPECT_EQ(chat_format_detect("<start_of_turn>user"), ChatFormat::Gemma);
  EXPECT_EQ(chat_format_detect(""), ChatFormat::Plain);
}

TEST(ChatTemplate, RendersOfficialFormats) {
  std::vector<ChatMessage> m = {{"system", "S"}, {"user", "U1"}, {"assistant", "A1"}, {"user", "U2"}};
  EXPECT_EQ(chat_render(ChatFormat::Llama3, m, true, "<|begin_of_text|>", "<|end_of_text|>"),
            "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nS<|eot_id|>"
            "<|start_header_id|>user<|end_header_id|>\n\nU1<|eot_id|>"
            "<|start_header_id|>assistant<|end_header_id|>\n\nA1<|eot_id|>"
            "<|start_header_id|>user<|end_header_id|>\n\nU2<|eot_id|>"
            "<|start_header_id|>assistant<|end_header_id|>\n\n");
  EXPECT_EQ(chat_render(ChatFormat::ChatML, m, true, "", ""),
            "<|im_start|>system\nS<|im_end|>\n<|im_start|>user\nU1<|im_end|>\n<|im_start|>assistant\nA1<|im_end|>\n"
            "<|im_start|>user\nU2<|im_end|>\n<|im_start|>assistant\n");
  EXPECT_EQ(chat_render(ChatFormat::Llama2, m, true, "<s>", "</s>"),
            "<s>[INST] <<SYS>>\nS\n<</SYS>>\n\nU1 [/INST] A1 </s><s>[INST] U2 [/INST]");
  EXPECT_EQ(chat_render(ChatFormat::Gemma, m, true, "<bos>", "<eos>"),
            "<bos><start_of_turn>user\nS\n\nU1<end_of_turn>\n<start_of_turn>model\nA1<end_of_turn>\n"
            "<start_of_turn>user\nU2<end_of_turn>\n<start_of_turn>model\n");
  EXPECT_EQ(chat_render(ChatFormat::Phi3, m, true, "<s>", "</s>"),
            "<|system|>\nS<|end|>\n<|user|>\nU1<|end|>\n<|assistant|>\nA1<|end|>\n<|user|>\nU2<|end|>\n<|assistant|>\n");
  EXPECT_EQ(chat_render(ChatFormat::Zephyr, m, true, "<s>", "</s>"),
            "<|system|>\nS</s>\n<|user|>\nU1</s>\n<|assistant|>\nA1</s>\n<|user|>\nU2</s>\n<|assistant|>\n");
}

}  // namespace
}  // namespace hearth

// Log-probabilities of the model's distribution over the vocabulary (for OpenAI's logprobs/top_logprobs).
#pragma once
#include <cstdint>
#include <vector>

#include "hearth/generate.h"

namespace hearth {

// out[i] = logits[i] - log(sum_j exp(logits[j])), computed stably (max subtracted first). -inf logits stay -inf.
void log_softmax(const float* logits, int n_vocab, float* out);

// The chosen token's log-probability and the top_n most likely tokens (top_n clamped to n_vocab), from logits.
// work: scratch reused between calls.
TokenLogprob token_logprob(const float* logits, int n_vocab, int32_t chosen, int top_n, std::vector<float>& work);

}  // namespace hearth

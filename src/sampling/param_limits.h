// The ranges hearth accepts for sampling parameters that come from outside (Ollama request options and store
// profiles; the OpenAI API keeps OpenAI's own narrower ranges). A value outside is refused naming the range,
// never wrapped or clamped: top_k 4294967297 once became 1, a NaN temperature made the model write spaces.
#pragma once
#include <cstdint>
#include <limits>

namespace hearth::sampling {

constexpr double kMaxTemperature = 100;    // [0, 100]
constexpr double kMaxRepeatPenalty = 100;  // (0, 100]: llama.cpp divides by it; 1 is off
constexpr double kMaxPenalty = 100;        // presence_penalty, frequency_penalty in [-100, 100]
constexpr long long kMaxInt = std::numeric_limits<int32_t>::max();
// top_k in [-1, kMaxInt] (<= 0: off); repeat_last_n in [-1, kMaxInt] (-1: every token; 0: off);
// num_predict in [-2, kMaxInt] (negative: until the context is full).
constexpr long long kMinTopK = -1, kMinRepeatLastN = -1, kMinNumPredict = -2;

}  // namespace hearth::sampling

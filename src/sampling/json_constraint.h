// JSON mode (OpenAI's response_format json_object, Ollama's format "json"): generation is constrained to one
// JSON object. Before each token is sampled, every token whose text cannot continue a valid object gets logit
// -inf; once the object is closed, only end-of-generation tokens remain.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "sampling/json_recognizer.h"

namespace hearth::sampling {

class JsonConstraint {
 public:
  // pieces[id]: the bytes token id adds to the text; eog[id]: whether it ends the generation.
  JsonConstraint(std::vector<std::string> pieces, std::vector<bool> eog);
  // Sets the logits of the tokens not allowed now to -inf; returns how many are allowed.
  int mask(float* logits) const;
  // Token tok was chosen (an allowed one).
  void accept(int32_t tok);
  bool complete() const { return state_.complete(); }

 private:
  bool allowed(int32_t tok) const;
  std::vector<std::string> pieces_;
  std::vector<bool> eog_;
  JsonRecognizer state_;
};

}  // namespace hearth::sampling

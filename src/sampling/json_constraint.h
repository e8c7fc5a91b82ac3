// JSON mode and structured output (OpenAI's response_format json_object / json_schema, Ollama's format "json" /
// {schema}): generation is constrained to one JSON value of a schema (any object in plain JSON mode). Before each
// token is sampled, every token whose text cannot continue such a value gets logit -inf; once the value is
// complete, end-of-generation tokens are allowed too (and alone, once nothing can follow).
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "sampling/json_schema.h"

namespace hearth::sampling {

class JsonConstraint {
 public:
  // pieces[id]: the bytes token id adds to the text; eog: the tokens that end the generation.
  JsonConstraint(JsonSchema schema, std::shared_ptr<const std::vector<std::string>> pieces,
                 const std::vector<int32_t>& eog);
  JsonConstraint(const JsonConstraint&) = delete;
  JsonConstraint& operator=(const JsonConstraint&) = delete;
  // Sets the logits of the tokens not allowed now to -inf; returns how many are allowed.
  int mask(float* logits) const;
  // Token tok was chosen (an allowed one).
  void accept(int32_t tok);
  bool complete() const { return state_.complete(); }

 private:
  bool allowed(int32_t tok, const bool* first_ok, bool in_string, SchemaRecognizer& trial) const;
  std::unique_ptr<const JsonSchema> schema_;  // the recognizer points into it
  std::shared_ptr<const std::vector<std::string>> pieces_;
  std::vector<bool> eog_;
  std::vector<bool> plain_;  // no '"', '\\' or control byte: stays inside a string
  SchemaRecognizer state_;
};

}  // namespace hearth::sampling

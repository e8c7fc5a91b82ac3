#include "sampling/json_constraint.h"

#include <cmath>

namespace hearth::sampling {

JsonConstraint::JsonConstraint(JsonSchema schema, std::shared_ptr<const std::vector<std::string>> pieces,
                               const std::vector<int32_t>& eog)
    : schema_(std::make_unique<const JsonSchema>(std::move(schema))),
      pieces_(std::move(pieces)),
      eog_(pieces_->size(), false),
      state_(schema_.get()) {
  for (int32_t t : eog)
    if (t >= 0 && t < static_cast<int32_t>(eog_.size())) eog_[t] = true;
  plain_.resize(pieces_->size());
  for (size_t t = 0; t < pieces_->size(); ++t) {
    bool plain = true;
    for (unsigned char c : (*pieces_)[t]) plain &= c != '"' && c != '\\' && c >= 0x20;
    plain_[t] = plain;
  }
}

// Most tokens are settled without trying them byte by byte: by their first byte alone, or inside a string by
// having no byte that could leave it.
bool JsonConstraint::allowed(int32_t tok, const bool* first_ok, bool in_string, SchemaRecognizer& trial) const {
  if (eog_[tok]) return state_.complete();
  const std::string& p = (*pieces_)[tok];
  if (p.empty()) return false;  // control tokens add no text
  if (!first_ok[static_cast<unsigned char>(p[0])]) return false;
  if (in_string && plain_[tok]) return true;
  trial.copy_from(state_);
  for (char c : p)
    if (!trial.feed(static_cast<unsigned char>(c))) return false;
  return true;
}

int JsonConstraint::mask(float* logits) const {
  SchemaRecognizer trial(schema_.get());
  bool first_ok[256];
  for (int b = 0; b < 256; ++b) {
    trial.copy_from(state_);
    first_ok[b] = trial.feed(static_cast<unsigned char>(b));
  }
  const bool in_string = state_.in_string();
  int n = 0;
  for (int32_t t = 0; t < static_cast<int32_t>(pieces_->size()); ++t) {
    if (logits[t] == -INFINITY) continue;
    if (allowed(t, first_ok, in_string, trial))
      ++n;
    else
      logits[t] = -INFINITY;
  }
  return n;
}

void JsonConstraint::accept(int32_t tok) {
  if (tok < 0 || tok >= static_cast<int32_t>(pieces_->size()) || eog_[tok]) return;
  for (char c : (*pieces_)[tok]) state_.feed(static_cast<unsigned char>(c));
}

}  // namespace hearth::sampling

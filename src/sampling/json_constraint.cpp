#include "sampling/json_constraint.h"

#include <cmath>

namespace hearth::sampling {

JsonConstraint::JsonConstraint(std::vector<std::string> pieces, std::vector<bool> eog)
    : pieces_(std::move(pieces)), eog_(std::move(eog)) {
  eog_.resize(pieces_.size(), false);
}

bool JsonConstraint::allowed(int32_t tok) const {
  if (eog_[tok]) return state_.complete();
  const std::string& p = pieces_[tok];
  if (p.empty()) return false;  // control tokens add no text
  JsonRecognizer r = state_;
  for (char c : p)
    if (!r.feed(static_cast<unsigned char>(c))) return false;
  return true;
}

int JsonConstraint::mask(float* logits) const {
  int n = 0;
  for (int32_t t = 0; t < static_cast<int32_t>(pieces_.size()); ++t) {
    if (logits[t] == -INFINITY) continue;
    if (allowed(t))
      ++n;
    else
      logits[t] = -INFINITY;
  }
  return n;
}

void JsonConstraint::accept(int32_t tok) {
  if (tok < 0 || tok >= static_cast<int32_t>(pieces_.size()) || eog_[tok]) return;
  for (char c : pieces_[tok]) state_.feed(static_cast<unsigned char>(c));
}

}  // namespace hearth::sampling

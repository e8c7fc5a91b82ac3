// The activation buffers of a forward pass, allocated on each backend that runs part of it (sessions and
// pipeline stages alike).
#pragma once
#include <cstddef>
#include <set>
#include <utility>
#include <vector>

#include "model/architecture.h"

namespace hearth {

struct PlacementPlan;

// Fills acts[b] for every backend index b in `used` with buffers for n_batch tokens, and logits on the
// output backend when with_logits. Each allocation is appended to owned; the caller releases them.
void alloc_activations(const HParams& h, const PlacementPlan& plan, const std::set<int>& used, size_t n_batch,
                       bool with_logits, std::vector<Activations>& acts,
                       std::vector<std::pair<Backend*, void*>>& owned);

}  // namespace hearth

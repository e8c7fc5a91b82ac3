// The KV cache: per layer, K and V for n_seq sequences of n_ctx positions, on the layer's backend.
// Only the plan's layers (a pipeline stage's range) get memory; the others are empty entries.
#pragma once
#include <vector>

#include "backend/backend.h"
#include "model/hparams.h"
#include "placement/plan.h"

namespace hearth {

class KvCache {
 public:
  KvCache(const HParams& h, const PlacementPlan& plan, int n_ctx, int n_seq, DType type);
  ~KvCache();
  KvCache(const KvCache&) = delete;
  KvCache& operator=(const KvCache&) = delete;

  std::vector<KvLayer>& layers() { return layers_; }
  size_t bytes() const { return bytes_; }

 private:
  std::vector<KvLayer> layers_;
  std::vector<Backend*> owners_;  // per layer
  size_t bytes_ = 0;
};

}  // namespace hearth

#include "runtime/kv_cache.h"

#include <vector>

namespace hearth {

KvCache::KvCache(const HParams& h, const PlacementPlan& plan, int n_ctx, int n_seq, DType type) {
  const size_t elems = static_cast<size_t>(n_seq) * n_ctx * h.kv_dim();
  const size_t bytes = elems * (type == DType::F32 ? 4 : 2);
  std::vector<uint8_t> zeros;
  // Layers outside the plan's range (other pipeline stages) get an empty entry and no memory.
  for (int l = 0; l < h.n_layer; ++l) {
    Backend* be = plan.backends[plan.layer_backend[l]];
    if (!plan.holds(l, h.n_layer)) {
      owners_.push_back(be);
      layers_.push_back(KvLayer{});
      continue;
    }
    KvLayer kv;
    kv.type = type;
    kv.n_ctx = n_ctx;
    kv.kv_dim = h.kv_dim();
    kv.k = be->alloc(bytes);
    owners_.push_back(be);
    layers_.push_back(kv);  // registered before the next alloc so the destructor frees it on failure
    layers_.back().v = be->alloc(bytes);
    bytes_ += 2 * bytes;
  }
}

KvCache::~KvCache() {
  for (size_t l = 0; l < layers_.size(); ++l) {
    if (layers_[l].k) owners_[l]->release(layers_[l].k);
    if (layers_[l].v) owners_[l]->release(layers_[l].v);
  }
}

}  // namespace hearth

#include "runtime/kv_cache.h"

#include <string>
#include <vector>

#include "hearth/error.h"

namespace hearth {

KvCache::KvCache(const HParams& h, const PlacementPlan& plan, int n_ctx, int n_seq, DType type) {
  if (h.n_pos > 0 && n_ctx > h.n_pos)
    throw Error("context size " + std::to_string(n_ctx) + " is longer than this " + h.arch + " model can position (" +
                std::to_string(h.n_pos) + " learned positions): use -c " + std::to_string(h.n_pos) + " or less");
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

#include "backend/place_weight.h"

namespace hearth {

Weight place_weight(Backend& be, Weight w, bool pack, std::vector<std::pair<Backend*, void*>>& owned) {
  if (!be.is_host()) {
    void* p = be.alloc(w.nbytes);
    owned.emplace_back(&be, p);
    be.to_device(p, w.data, w.nbytes);
    w.data = p;
  }
  if (pack) {
    w.packed = be.pack_weight(w);
    if (!w.packed)
      if (const void* copy = be.copy_weight(w)) w.data = copy;
  }
  return w;
}

}  // namespace hearth

// Putting a weight on a backend: its bytes copied to device memory unless the backend's memory is host memory,
// then, with pack, in the backend's faster layout for matmul (pack_weight, else copy_weight). Shared by the
// WeightStore (whole tensors) and the row split (each device's rows of a matrix).
#pragma once
#include <utility>
#include <vector>

#include "backend/backend.h"

namespace hearth {

// w.data: host memory. Device copies are recorded in `owned` for the caller to release.
Weight place_weight(Backend& be, Weight w, bool pack, std::vector<std::pair<Backend*, void*>>& owned);

}  // namespace hearth

// --split-mode row: several devices acting as one backend. Every matrix is cut into row ranges, one per device
// in proportion to its share; a matmul sends x to each device, runs the parts there at once and gathers y on the
// main device. Every other op, the activations and the KV cache stay on the main device.
#pragma once
#include <memory>
#include <vector>

#include "backend/backend.h"

namespace hearth {

// The rows [begin, end) of each part of a matrix of `rows` rows split by `shares` (one per device, >= 0, not all
// 0): boundaries at multiples of `granule` rows (the last part takes the remainder), so a part may be empty.
std::vector<std::pair<int64_t, int64_t>> row_split_ranges(int64_t rows, const std::vector<double>& shares,
                                                         int64_t granule);

// devices: not owned, must outlive the returned backend; shares: one per device; main: index of the main device.
std::unique_ptr<Backend> make_row_split_backend(std::vector<Backend*> devices, std::vector<double> shares,
                                                int main = 0);

}  // namespace hearth

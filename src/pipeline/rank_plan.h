// Which MPI rank runs which layers when the user does not say (`--ranges`): in proportion to each rank's memory.
#pragma once
#include <cstddef>
#include <vector>

#include "pipeline/stage.h"

namespace hearth::pipeline {

// Contiguous layer ranges, one per entry of mem, with weight bytes in proportion to mem (at least one layer
// each; all-equal or all-zero mem gives about equal bytes). The first range is the input, the last the output.
std::vector<StageSpec> plan_by_memory(const std::vector<size_t>& layer_bytes, const std::vector<size_t>& mem);
// This machine's MemAvailable from /proc/meminfo, in bytes; 0 when unknown.
size_t mem_available();

}  // namespace hearth::pipeline

#include "pipeline/rank_plan.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "hearth/error.h"
#include "placement/memory_fit.h"

namespace hearth::pipeline {

std::vector<StageSpec> plan_by_memory(const std::vector<size_t>& layer_bytes, const std::vector<size_t>& mem) {
  const int n = static_cast<int>(layer_bytes.size());
  const int n_stages = static_cast<int>(mem.size());
  if (n_stages < 1) throw Error("pipeline: no ranks to place layers on");
  if (n_stages > n)
    throw Error("pipeline: " + std::to_string(n_stages) + " ranks for a model of " + std::to_string(n) +
                " layers: at most one rank per layer");
  double mem_total = 0;
  for (size_t m : mem) mem_total += static_cast<double>(m);
  double total = 0;
  for (size_t b : layer_bytes) total += static_cast<double>(b);
  std::vector<StageSpec> out;
  int begin = 0;
  double acc = 0, share = 0;
  for (int s = 0; s < n_stages; ++s) {
    // Unknown memory (0 everywhere) means equal shares.
    share += mem_total > 0 ? static_cast<double>(mem[s]) / mem_total : 1.0 / n_stages;
    const double target = total * share;
    int end = begin + 1;
    acc += static_cast<double>(layer_bytes[begin]);
    // Take the next layer while it brings the cumulative bytes closer to this rank's target, leaving one layer
    // for each later rank.
    while (end < n - (n_stages - s - 1) &&
           std::abs(acc + static_cast<double>(layer_bytes[end]) - target) <= std::abs(acc - target))
      acc += static_cast<double>(layer_bytes[end++]);
    if (s == n_stages - 1) end = n;
    StageSpec spec;
    spec.layer_begin = begin;
    spec.layer_end = end;
    spec.input = s == 0;
    spec.output = s == n_stages - 1;
    out.push_back(spec);
    begin = end;
  }
  return out;
}

size_t mem_available() { return read_mem_available().value_or(0); }

}  // namespace hearth::pipeline

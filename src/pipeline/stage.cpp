// Stage implementation: placeholder until the layer-range forward pass lands (the interface is stage.h).
#include "pipeline/stage.h"

#include "hearth/error.h"

namespace hearth::pipeline {

std::unique_ptr<Stage> Stage::open(const std::string& path, const StageSpec&, const LoadParams&,
                                   const SessionParams&) {
  throw Error(path + ": pipeline stages are not implemented yet");
}

std::vector<StageSpec> plan_stages(const std::vector<size_t>&, int) {
  throw Error("plan_stages: not implemented yet");
}

std::vector<StageSpec> parse_stage_ranges(const std::string&, int) {
  throw Error("parse_stage_ranges: not implemented yet");
}

std::vector<size_t> layer_bytes_of(const std::string& path) {
  throw Error(path + ": layer_bytes_of not implemented yet");
}

}  // namespace hearth::pipeline

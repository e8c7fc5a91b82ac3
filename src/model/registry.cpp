// Architectures by general.architecture name.
#include <map>

#include "model/architecture.h"

namespace hearth {

std::unique_ptr<Architecture> make_llama(const GgufFile&, const HParams&, WeightStore&, const PlacementPlan&);
std::unique_ptr<Architecture> make_gemma(const GgufFile&, const HParams&, WeightStore&, const PlacementPlan&);
std::unique_ptr<Architecture> make_gpt2(const GgufFile&, const HParams&, WeightStore&, const PlacementPlan&);
std::unique_ptr<Architecture> make_parallel(const GgufFile&, const HParams&, WeightStore&, const PlacementPlan&);

namespace {
const std::map<std::string, ArchitectureFactory>& registry() {
  static const std::map<std::string, ArchitectureFactory> r = {
      {"llama", make_llama},    // also Mistral, Yi, Vicuna, TinyLlama...
      {"qwen2", make_llama},    // Q/K/V biases and NeoX RoPE come from the file and the hparams
      {"qwen2moe", make_llama}, // with experts and a gated shared expert
      {"qwen3", make_llama},    // per-head Q/K norms likewise
      {"qwen3moe", make_llama}, // and a mixture of experts (as Mixtral's, which is "llama")
      {"phi3", make_llama},     // fused QKV and gate+up likewise
      {"granite", make_llama},  // with Granite's scales
      {"granitemoe", make_llama},
      {"gemma", make_gemma},
      {"gemma2", make_gemma},
      {"gemma3", make_gemma},
      {"gpt2", make_gpt2},
      {"starcoder", make_gpt2},
      {"falcon", make_parallel},
      {"command-r", make_parallel},
  };
  return r;
}
}  // namespace

const ArchitectureFactory* find_architecture(const std::string& name) {
  auto it = registry().find(name);
  return it == registry().end() ? nullptr : &it->second;
}

std::vector<std::string> architecture_names() {
  std::vector<std::string> out;
  for (const auto& [k, v] : registry()) out.push_back(k);
  return out;
}

}  // namespace hearth

// Architectures by general.architecture name.
#include <map>

#include "model/architecture.h"

namespace hearth {

std::unique_ptr<Architecture> make_llama(const GgufFile&, const HParams&, WeightStore&, const PlacementPlan&);

namespace {
const std::map<std::string, ArchitectureFactory>& registry() {
  static const std::map<std::string, ArchitectureFactory> r = {
      {"llama", make_llama},
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

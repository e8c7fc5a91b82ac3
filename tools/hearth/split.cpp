// hearth split: cut a model into per-part GGUF files (begin, layer ranges, end) and a manifest, so that each
// node of a pipeline stores only its part.
#include <cstdio>

#include "commands.h"
#include "pipeline/split.h"

namespace hearth::cli {
namespace {

struct SplitCliOptions {
  std::string model;
  std::string models_dir;
  std::string out;
  int stages = 0;
  std::string ranges;
  bool per_layer = false;
};

int split(const SplitCliOptions& o) {
  pipeline::SplitOptions opt;
  opt.stages = o.stages;
  opt.ranges = o.ranges;
  opt.per_layer = o.per_layer;
  const std::string path = resolve_model(o.model, o.models_dir);
  pipeline::SplitManifest m = pipeline::split_model(path, o.out, opt);
  std::printf("%s: %s (%s), %d layers -> %zu parts in %s\n", m.source.c_str(), m.model.c_str(), m.arch.c_str(),
              m.n_layer, m.parts.size(), o.out.c_str());
  for (const pipeline::SplitPart& p : m.parts) {
    std::string what = p.role == "layers" ? "layers " + std::to_string(p.layer_begin) + "-" +
                                                std::to_string(p.layer_end - 1)
                                          : p.role;
    std::printf("  %-24s %-14s %10.1f MiB  sha256 %.16s...\n", p.file.c_str(), what.c_str(), p.size / 1048576.0,
                p.sha256.c_str());
  }
  std::printf("  %s\n", pipeline::kManifestName);
  return 0;
}

}  // namespace

Runner add_split(CLI::App& app) {
  auto o = std::make_shared<SplitCliOptions>();
  CLI::App* cmd = app.add_subcommand(
      "split", "cut a model into per-part GGUF files (begin, layer ranges, end) and a manifest for pipeline stages");
  cmd->add_option("model", o->model, "model file (GGUF) or store name")->required();
  add_models_option(*cmd, o->models_dir);
  cmd->add_option("-o,--out", o->out, "output directory (created)")->required();
  auto* stages = cmd->add_option("--stages", o->stages, "layer parts of about equal size (default 1)")
                     ->check(CLI::PositiveNumber);
  auto* ranges = cmd->add_option("--ranges", o->ranges, "layer ranges, inclusive, e.g. 0-9,10-21");
  auto* per_layer = cmd->add_flag("--per-layer", o->per_layer, "one part per layer");
  stages->excludes(ranges)->excludes(per_layer);
  ranges->excludes(per_layer);
  return [o] { return split(*o); };
}

}  // namespace hearth::cli

// What the model argument of every command names (run, info, bench, quantize, perplexity, logits, split, eval,
// serve -m): a GGUF file, a name in the model store, or a remote source (hf:, http(s)) downloaded into the cache.
// One function, so that a store name works everywhere and a missing one says the same thing everywhere.
#include <filesystem>
#include <optional>

#include "commands.h"
#include "hearth/download.h"
#include "hearth/store.h"

namespace hearth::cli {

std::string resolve_model(const std::string& src) { return resolve_model(src, ""); }

std::string resolve_model(const std::string& src, const std::string& models_flag) {
  if (is_remote_source(src)) return resolve_model_source(src, default_cache_dir(), progress_bar("downloading " + src));
  std::error_code ec;
  if (std::filesystem::exists(src, ec)) return src;
  // Not a file: a name in the model store, when there is one by that name.
  const ModelsDir md = resolve_models_dir(models_flag);
  try {
    if (std::optional<StoreModel> m = ModelStore(md.dir).find(src)) return m->path;
    parse_model_name(src);
  } catch (const Error&) {
    return src;  // not a store name ("/x/y", "a:b:c"): a missing file, which the loader reports
  }
  // A path ("/models/x.gguf", "./x", "x.gguf") that is not there: the loader says it cannot open it.
  if (src.ends_with(".gguf") || src.starts_with("/") || src.starts_with("./") || src.starts_with("../")) return src;
  throw Error("'" + src + "' is not a file and not in the model store " + md.dir + " (" +
              (md.source == "default" ? std::string("the default store") : "from " + md.source) +
              "): download it with `hearth pull hf:ORG/REPO/FILE.gguf --name " + src +
              "`, or add a file with `hearth import FILE.gguf --name " + src + "` (`hearth list` shows the store)");
}

void add_models_option(CLI::App& cmd, std::string& dir) {
  cmd.add_option("--models", dir, "the model store directory, for store names (default: $HEARTH_MODELS, the config "
                                  "file, ~/.local/share/hearth/models)");
}

}  // namespace hearth::cli

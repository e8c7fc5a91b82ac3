// hearth pull: fetch a model (hf:ORG/REPO/FILE or an http(s) URL) into the model store (or, with
// --cache-only, only into the download cache as before the store). resolve_model is in model_source.cpp.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>

#include "commands.h"
#include "hearth/download.h"
#include "hearth/store.h"

namespace hearth::cli {

std::function<void(const DownloadProgress&)> progress_bar(const std::string& what) {
  auto last = std::make_shared<std::chrono::steady_clock::time_point>();
  bool tty = isatty(STDERR_FILENO);
  return [what, last, tty](const DownloadProgress& p) {
    auto now = std::chrono::steady_clock::now();
    if (now - *last < std::chrono::milliseconds(tty ? 100 : 2000) && p.done != p.total) return;
    *last = now;
    if (p.total)
      std::fprintf(stderr, "%s%s: %.1f / %.1f MiB (%.0f%%)%s", tty ? "\r" : "", what.c_str(), p.done / 1048576.0,
                   p.total / 1048576.0, 100.0 * p.done / p.total, tty ? "" : "\n");
    else
      std::fprintf(stderr, "%s%s: %.1f MiB%s", tty ? "\r" : "", what.c_str(), p.done / 1048576.0, tty ? "" : "\n");
    if (tty && p.done == p.total) std::fputc('\n', stderr);
  };
}

Runner add_pull(CLI::App& app) {
  struct O {
    std::string source, models;
    PullOptions pull;
    bool cache_only = false;
  };
  auto o = std::make_shared<O>();
  CLI::App* cmd = app.add_subcommand("pull", "download a model (hf:ORG/REPO/FILE.gguf or a URL) into the model store");
  cmd->add_option("source", o->source, "hf:ORG/REPO/FILE.gguf or http(s)://...")->required();
  cmd->add_option("--name", o->pull.name, "NAME[:TAG] in the store (default: the file name without .gguf)");
  cmd->add_option("--sha256", o->pull.sha256, "expected SHA-256 of the file (hex): checked before it is registered");
  cmd->add_option("--size", o->pull.size, "expected size in bytes: checked before it is registered");
  cmd->add_option("--models", o->models, "the model store directory (default: $HEARTH_MODELS, the config file, "
                                         "~/.local/share/hearth/models)");
  cmd->add_flag("--cache-only", o->cache_only, "only download into the cache ($HEARTH_CACHE) and print its path");
  return [o] {
    if (!is_remote_source(o->source))
      throw Error("'" + o->source + "' is not a remote source (hf:ORG/REPO/FILE or a URL)");
    if (o->cache_only) {
      std::string path = resolve_model(o->source);
      std::printf("%s\n", path.c_str());
      return 0;
    }
    ModelStore store(resolve_models_dir(o->models).dir);
    StoreModel m = store.pull(o->source, o->pull, store_progress_bar());
    std::printf("pulled %s as %s (%s) into %s\n", o->source.c_str(), m.name.c_str(), m.digest.c_str(),
                store.dir().c_str());
    return 0;
  };
}

}  // namespace hearth::cli

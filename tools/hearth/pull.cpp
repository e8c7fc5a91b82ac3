// hearth pull: fetch a model (hf:ORG/REPO/FILE or an http(s) URL) into the local cache.
#include <unistd.h>

#include <chrono>
#include <cstdio>

#include "commands.h"
#include "hearth/download.h"

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

std::string resolve_model(const std::string& src) {
  return resolve_model_source(src, default_cache_dir(), progress_bar("downloading " + src));
}

Runner add_pull(CLI::App& app) {
  auto src = std::make_shared<std::string>();
  CLI::App* cmd = app.add_subcommand("pull", "download a model (hf:ORG/REPO/FILE.gguf or a URL) into the cache");
  cmd->add_option("source", *src, "hf:ORG/REPO/FILE.gguf or http(s)://...")->required();
  return [src] {
    if (!is_remote_source(*src)) throw Error("'" + *src + "' is not a remote source (hf:ORG/REPO/FILE or a URL)");
    std::string path = resolve_model(*src);
    std::printf("%s\n", path.c_str());
    return 0;
  };
}

}  // namespace hearth::cli

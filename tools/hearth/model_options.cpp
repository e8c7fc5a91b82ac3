// Options shared by the commands that load a model, and the load's progress on a terminal.
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <sstream>

#include "commands.h"

namespace hearth::cli {

void add_model_options(CLI::App& cmd, ModelOptions& o) {
  cmd.add_option("-t,--threads", o.threads, "CPU threads (default: all cores)")->check(CLI::NonNegativeNumber);
  cmd.add_option("--n-gpu-layers,--gpu-layers", o.n_gpu_layers,
                 "(-ngl) layers to put on GPU (-1: automatic from free memory; 0: CPU only)");
  cmd.add_option("--gpu-mem-limit", o.gpu_mem_limit, "cap on the GPU memory hearth may use per device (e.g. 8G)");
  cmd.add_option("-c,--ctx-size", o.n_ctx, "context size in tokens (default: model's, at most 4096)")
      ->check(CLI::NonNegativeNumber);
  cmd.add_option("--split-mode", o.split_mode, "(-sm) how to split across GPUs: layer, row or none")
      ->check(CLI::IsMember({"layer", "row", "none"}));
  cmd.add_option("--tensor-split", o.tensor_split, "(-ts) share of the model per GPU, e.g. 3,1");
  cmd.add_option("--main-gpu", o.main_gpu,
                 "(-mg) the GPU of --split-mode none; in row mode the one that holds the KV cache")
      ->check(CLI::NonNegativeNumber);
  cmd.add_flag("--no-repack", o.no_repack, "CPU: use weights in place from the file instead of a packed copy");
  cmd.add_option("--mem-budget", o.mem_budget,
                 "bytes of layer weights kept in memory (e.g. 2G); the other layers are streamed from the file in "
                 "groups while the resident ones compute (CPU; default: all resident)");
  add_flash_attn_option(cmd, o.flash_attn);
}

void add_flash_attn_option(CLI::App& cmd, std::string& value) {
  // llama.cpp's -fa (main.cpp rewrites it, with or without on|off|auto after it, as --flash-attn=VALUE).
  cmd.add_option("--flash-attn", value,
                 "(-fa) llama.cpp's flash-attention switch (on, off, auto): accepted so llama.cpp command lines "
                 "work; it changes nothing, as hearth has one attention kernel per backend")
      ->check(CLI::IsMember({"on", "off", "auto", "0", "1", "true", "false"}));
}

void show_load_progress(LoadParams& p, const std::string& what) {
  if (!isatty(STDERR_FILENO)) return;
  struct State {
    std::chrono::steady_clock::time_point t0 = std::chrono::steady_clock::now();
    int shown = -1;  // the percentage on the line; -1: nothing shown yet
  };
  auto st = std::make_shared<State>();
  p.progress = [what, st](float f) {
    const int pct = static_cast<int>(f * 100);
    // Quick loads show nothing: the load line follows at once.
    if (st->shown < 0 && std::chrono::steady_clock::now() - st->t0 < std::chrono::seconds(1)) return true;
    if (pct != st->shown) {
      st->shown = pct;
      std::fprintf(stderr, "\rhearth: loading %s: %d%%%s", what.c_str(), pct, pct >= 100 ? "\n" : "");
      std::fflush(stderr);
    }
    return true;
  };
}

size_t parse_size(const std::string& s) {
  std::istringstream in(s);
  double v = 0;
  std::string unit;
  if (!(in >> v) || v < 0) throw Error("invalid size '" + s + "' (expected e.g. 8G, 512M)");
  in >> unit;
  double mult = 1;
  if (!unit.empty()) {
    char u = static_cast<char>(std::toupper(static_cast<unsigned char>(unit[0])));
    mult = u == 'K' ? 1024.0 : u == 'M' ? 1048576.0 : u == 'G' ? 1073741824.0 : u == 'T' ? 1099511627776.0 : 0;
    if (mult == 0) throw Error("invalid size unit in '" + s + "'");
  }
  return static_cast<size_t>(std::llround(v * mult));
}

LoadParams load_params(const ModelOptions& o) {
  LoadParams p;
  p.n_threads = o.threads;
  p.n_gpu_layers = o.n_gpu_layers;
  p.n_ctx = o.n_ctx;
  p.split_mode = o.split_mode;
  p.main_gpu = o.main_gpu;
  p.repack = !o.no_repack;
  if (!o.gpu_mem_limit.empty()) p.gpu_mem_limit = parse_size(o.gpu_mem_limit);
  if (!o.mem_budget.empty()) p.mem_budget = parse_size(o.mem_budget);
  if (!o.tensor_split.empty()) {
    std::stringstream ss(o.tensor_split);
    std::string part;
    while (std::getline(ss, part, ',')) {
      try {
        p.tensor_split.push_back(std::stof(part));
      } catch (const std::exception&) {
        throw Error("invalid --tensor-split '" + o.tensor_split + "'");
      }
    }
  }
  return p;
}

}  // namespace hearth::cli

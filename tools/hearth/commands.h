// Subcommands of the hearth CLI: each registers its options on the app and returns its runner.
#pragma once
#include <CLI/CLI.hpp>
#include <functional>
#include <string>

#include "hearth/download.h"
#include "hearth/model.h"

namespace hearth::cli {

using Runner = std::function<int()>;

Runner add_run(CLI::App& app);
Runner add_info(CLI::App& app);
Runner add_bench(CLI::App& app);
Runner add_pull(CLI::App& app);
Runner add_logits(CLI::App& app);
Runner add_perplexity(CLI::App& app);
Runner add_quantize(CLI::App& app);
Runner add_serve(CLI::App& app);
// hearth split MODEL --out DIR: per-part files and a manifest for pipeline stages (split.cpp).
Runner add_split(CLI::App& app);
// hearth ps / hearth stop NAME: a running server's loaded models, and unloading one (ps.cpp).
Runner add_ps(CLI::App& app);
Runner add_stop(CLI::App& app);
// command_line: the invocation as typed, quoted in the report.
Runner add_eval(CLI::App& app, const std::string& command_line);

// What every command's model argument names (model_source.cpp): a local path as is; a model store name (store at
// models_flag, else $HEARTH_MODELS, the config file, the default) as its file; hf:/http(s) sources downloaded into
// the cache first (with a progress bar). A name that is neither a file nor in the store is an error that says
// where the store is and how to pull or import the model.
std::string resolve_model(const std::string& source);
std::string resolve_model(const std::string& source, const std::string& models_flag);
// --models DIR: the store for the command's store names.
void add_models_option(CLI::App& cmd, std::string& dir);
// A download progress bar on stderr (pull.cpp).
std::function<void(const DownloadProgress&)> progress_bar(const std::string& what);

// Model store commands (store_cmds.cpp; pull is in pull.cpp).
Runner add_import(CLI::App& app);
Runner add_list(CLI::App& app);
Runner add_rm(CLI::App& app);
Runner add_cp(CLI::App& app);
Runner add_create(CLI::App& app);
Runner add_show(CLI::App& app);
// A progress bar on stderr for store operations (copying, downloading, verifying).
std::function<void(const std::string&, uint64_t, uint64_t)> store_progress_bar();

// Options shared by the commands that load a model.
struct ModelOptions {
  std::string model;
  int threads = 0;
  int n_gpu_layers = -1;
  std::string gpu_mem_limit;  // "8G", "512M", bytes
  int n_ctx = 0;
  std::string split_mode = "layer";
  std::string tensor_split;
  int main_gpu = 0;
  bool no_repack = false;
  std::string mem_budget;  // "2G": layer weights kept resident, the rest streamed (layer streaming)
  std::string models_dir;  // --models: the store that names are looked up in (commands that add it)
  std::string flash_attn;  // llama.cpp's -fa on|off|auto: accepted, changes nothing (see add_model_options)
};
void add_model_options(CLI::App& cmd, ModelOptions& o);
// --flash-attn (llama.cpp's -fa), accepted for compatibility.
void add_flash_attn_option(CLI::App& cmd, std::string& value);
LoadParams load_params(const ModelOptions& o);
// On a terminal, the load's progress on stderr ("hearth: loading NAME: 45%") once it has taken more than a
// second (LoadParams::progress); nothing otherwise.
void show_load_progress(LoadParams& p, const std::string& what);
// Parses "8G", "512M", "1.5GiB", "1000000".
size_t parse_size(const std::string& s);

}  // namespace hearth::cli

// hearth: run, chat with, inspect, serve and measure LLMs on your own hardware.
#include <cstdio>
#include <exception>
#include <algorithm>
#include <string>
#include <vector>

#include "commands.h"
#include "hearth/error.h"

int main(int argc, char** argv) {
  CLI::App app{"hearth: private LLM inference on your own hardware"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "hearth 0.1.0");
  std::vector<std::pair<CLI::App*, hearth::cli::Runner>> runners;
  auto all = [](CLI::App*) { return true; };
  for (auto add : {hearth::cli::add_run, hearth::cli::add_info, hearth::cli::add_bench, hearth::cli::add_pull,
                   hearth::cli::add_logits, hearth::cli::add_perplexity,
                   hearth::cli::add_quantize, hearth::cli::add_serve, hearth::cli::add_import,
                   hearth::cli::add_list, hearth::cli::add_rm, hearth::cli::add_cp, hearth::cli::add_create,
                   hearth::cli::add_show, hearth::cli::add_ps, hearth::cli::add_stop, hearth::cli::add_split}) {
    hearth::cli::Runner r = add(app);
    runners.emplace_back(app.get_subcommands(all).back(), r);
  }
  std::string command_line = "hearth";
  for (int i = 1; i < argc; ++i) command_line += std::string(" ") + argv[i];
  hearth::cli::Runner eval = hearth::cli::add_eval(app, command_line);
  runners.emplace_back(app.get_subcommands(all).back(), eval);
  // llama.cpp's multi-letter single-dash flags, which CLI11 does not accept as short names.
  std::vector<std::string> args(argv + 1, argv + argc);
  // `hearth bench --eval ...` is `hearth eval ...`.
  if (!args.empty() && args[0] == "bench" && std::find(args.begin(), args.end(), "--eval") != args.end()) {
    args.erase(std::find(args.begin(), args.end(), "--eval"));
    args[0] = "eval";
  }
  // eval: `--endpoint URL --model NAME` names the endpoint's model (-m/--model alone is a local file).
  for (size_t i = 2; i < args.size(); ++i)
    if (args[i] == "--model" && args[i - 2] == "--endpoint") args[i] = "--endpoint-model";
  for (std::string& a : args) {
    if (a == "-ngl") a = "--n-gpu-layers";
    else if (a == "-sm") a = "--split-mode";
    else if (a == "-ts") a = "--tensor-split";
    else if (a == "-mg") a = "--main-gpu";
    else if (a == "-sys") a = "--system";
    else if (a == "-md") a = "--model-draft";
  }
  std::reverse(args.begin(), args.end());
  try {
    app.parse(args);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  try {
    for (auto& [cmd, run] : runners)
      if (cmd->parsed()) return run();
  } catch (const hearth::Error& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  return 1;
}

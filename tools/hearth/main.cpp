// hearth: run, chat with, inspect, serve and measure LLMs on your own hardware.
#include <cstdio>
#include <exception>
#include <algorithm>
#include <string>
#include <vector>

#include "commands.h"
#include "hearth/error.h"
#include "llama_flags.h"

namespace {

// Edit distance with adjacent transpositions ("rnu" is one step from "run").
size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<std::vector<size_t>> d(a.size() + 1, std::vector<size_t>(b.size() + 1));
  for (size_t i = 0; i <= a.size(); ++i) d[i][0] = i;
  for (size_t j = 0; j <= b.size(); ++j) d[0][j] = j;
  for (size_t i = 1; i <= a.size(); ++i)
    for (size_t j = 1; j <= b.size(); ++j) {
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1)});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
        d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
    }
  return d[a.size()][b.size()];
}

// The subcommand nearest to a misspelt one, or "" when none is near (at most a third of its letters wrong).
std::string nearest_command(const std::string& typed, const std::vector<std::string>& names) {
  std::string best;
  size_t best_d = std::max<size_t>(1, typed.size() / 3) + 1;
  for (const std::string& n : names) {
    const size_t d = edit_distance(typed, n);
    if (d < best_d || (d == best_d && !best.empty() && n.rfind(typed, 0) == 0)) best = n, best_d = d;
  }
  return best;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"hearth: private LLM inference on your own hardware", "hearth"};
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
  std::vector<std::string> args(argv + 1, argv + argc);
  // `hearth` alone: the help, as `git` alone prints its usage (and fails).
  if (args.empty()) {
    std::fputs(app.help().c_str(), stdout);
    return 1;
  }
  // A misspelt subcommand: the nearest one, instead of CLI11's "A subcommand is required".
  if (args[0].empty() || args[0][0] != '-') {
    std::vector<std::string> names, known;  // known: the names and their aliases (ls)
    for (const auto& [cmd, run] : runners) {
      names.push_back(cmd->get_name());
      known.push_back(cmd->get_name());
      for (const std::string& alias : cmd->get_aliases()) known.push_back(alias);
    }
    if (std::find(known.begin(), known.end(), args[0]) == known.end()) {
      const std::string near = nearest_command(args[0], known);
      std::fprintf(stderr, "error: '%s' is not a hearth command", args[0].c_str());
      if (!near.empty()) std::fprintf(stderr, "; did you mean '%s'?", near.c_str());
      std::string list;
      for (const std::string& n : names) list += (list.empty() ? "" : ", ") + n;
      std::fprintf(stderr, "\nCommands: %s (see `hearth --help`, `hearth COMMAND --help`)\n", list.c_str());
      return 1;
    }
  }
  // `hearth bench --eval ...` is `hearth eval ...`.
  if (args[0] == "bench" && std::find(args.begin(), args.end(), "--eval") != args.end()) {
    args.erase(std::find(args.begin(), args.end(), "--eval"));
    args[0] = "eval";
  }
  // eval: `--endpoint URL --model NAME` names the endpoint's model (-m/--model alone is a local file).
  for (size_t i = 2; i < args.size(); ++i)
    if (args[i] == "--model" && args[i - 2] == "--endpoint") args[i] = "--endpoint-model";
  try {
    args = hearth::cli::translate_llama_flags(args);
  } catch (const hearth::Error& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
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

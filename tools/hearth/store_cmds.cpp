// The model store commands: import, list, rm, cp, create, show (pull is in pull.cpp). Each takes --models DIR;
// without it the store is $HEARTH_MODELS, the config file's "models = ..." line, or the default (store.h).
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <memory>
#include <sstream>

#include "commands.h"
#include "hearth/store.h"

namespace hearth::cli {

StoreProgress store_progress_bar() {
  auto last = std::make_shared<std::chrono::steady_clock::time_point>();
  auto last_status = std::make_shared<std::string>();
  const bool tty = isatty(STDERR_FILENO);
  return [last, last_status, tty](const std::string& status, uint64_t done, uint64_t total) {
    auto now = std::chrono::steady_clock::now();
    const bool changed = status != *last_status;
    if (!changed && now - *last < std::chrono::milliseconds(tty ? 100 : 2000) && done != total) return;
    if (changed && tty && !last_status->empty()) std::fputc('\n', stderr);
    *last = now;
    *last_status = status;
    if (total)
      std::fprintf(stderr, "%s%s: %.1f / %.1f MiB (%.0f%%)%s", tty ? "\r" : "", status.c_str(), done / 1048576.0,
                   total / 1048576.0, 100.0 * static_cast<double>(done) / static_cast<double>(total), tty ? "" : "\n");
    else if (done)
      std::fprintf(stderr, "%s%s: %.1f MiB%s", tty ? "\r" : "", status.c_str(), done / 1048576.0, tty ? "" : "\n");
    else
      std::fprintf(stderr, "%s%s%s", tty ? "\r" : "", status.c_str(), tty ? "" : "\n");
    if (status == "success" && tty) std::fputc('\n', stderr);
  };
}

ModelStore open_store(const std::string& models_flag) { return ModelStore(resolve_models_dir(models_flag).dir); }

namespace {

std::string human_size(uint64_t bytes) {
  char buf[32];
  const double b = static_cast<double>(bytes);
  if (b >= 1e9) std::snprintf(buf, sizeof buf, "%.1f GB", b / 1e9);
  else if (b >= 1e6) std::snprintf(buf, sizeof buf, "%.1f MB", b / 1e6);
  else if (b >= 1e3) std::snprintf(buf, sizeof buf, "%.1f KB", b / 1e3);
  else std::snprintf(buf, sizeof buf, "%llu B", static_cast<unsigned long long>(bytes));
  return buf;
}

std::string ago(std::chrono::system_clock::time_point t) {
  const long long s = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now() - t).count();
  auto unit = [](long long n, const char* u) { return std::to_string(n) + " " + u + (n == 1 ? "" : "s") + " ago"; };
  if (s < 60) return "just now";
  if (s < 3600) return unit(s / 60, "minute");
  if (s < 86400) return unit(s / 3600, "hour");
  if (s < 86400 * 30) return unit(s / 86400, "day");
  if (s < 86400 * 365) return unit(s / (86400 * 30), "month");
  return unit(s / (86400 * 365), "year");
}

std::string short_id(const StoreModel& m) { return m.loose ? "(file)" : m.digest.substr(7, 12); }

void add_models_option(CLI::App* cmd, std::string& dir) {
  cmd->add_option("--models", dir, "the model store directory (default: $HEARTH_MODELS, the config file, "
                                   "~/.local/share/hearth/models)");
}

int list(const std::string& models) {
  ModelStore store = open_store(models);
  const auto all = store.list();
  size_t w = 4;
  for (const StoreModel& m : all) w = std::max(w, m.name.size());
  std::printf("%-*s  %-12s  %-9s  %s\n", static_cast<int>(w), "NAME", "ID", "SIZE", "MODIFIED");
  for (const StoreModel& m : all)
    std::printf("%-*s  %-12s  %-9s  %s\n", static_cast<int>(w), m.name.c_str(), short_id(m).c_str(),
                human_size(m.size).c_str(), ago(m.modified).c_str());
  return 0;
}

int show(const std::string& models, const std::string& name, bool modelfile) {
  ModelStore store = open_store(models);
  const StoreModel m = store.get(name);
  if (modelfile) {
    std::printf("FROM %s\n", m.path.c_str());
    if (!m.system.empty()) std::printf("SYSTEM \"\"\"%s\"\"\"\n", m.system.c_str());
    for (const auto& [k, v] : m.parameters)
      std::printf("PARAMETER %s %s\n", k.c_str(), (k == "stop" ? "\"" + v + "\"" : v).c_str());
    if (!m.tmpl.empty()) std::printf("TEMPLATE \"\"\"%s\"\"\"\n", m.tmpl.c_str());
    return 0;
  }
  ModelInfo info = inspect_model(m.path);
  std::printf("name:          %s%s\n", m.name.c_str(), m.loose ? " (loose file, not registered)" : "");
  std::printf("path:          %s\n", m.path.c_str());
  std::printf("size:          %s (%llu bytes)\n", human_size(m.size).c_str(), static_cast<unsigned long long>(m.size));
  if (!m.digest.empty()) std::printf("digest:        %s\n", m.digest.c_str());
  if (!m.from.empty()) std::printf("from:          %s\n", m.from.c_str());
  std::printf("architecture:  %s\n", info.arch.c_str());
  std::printf("parameters:    %llu\n", static_cast<unsigned long long>(info.n_params));
  std::printf("quantization:  %s\n", info.file_type.c_str());
  std::printf("context:       %d trained\n", info.n_ctx_train);
  if (!m.system.empty()) std::printf("system:        %s\n", m.system.c_str());
  if (!m.parameters.empty()) {
    std::printf("defaults:\n");
    std::istringstream in(format_parameters(m.parameters));
    for (std::string l; std::getline(in, l);) std::printf("  %s\n", l.c_str());
  }
  if (!m.tmpl.empty()) std::printf("template:      %s\n", m.tmpl.c_str());
  return 0;
}

}  // namespace

Runner add_import(CLI::App& app) {
  struct O {
    std::string file, name, models;
  };
  auto o = std::make_shared<O>();
  CLI::App* cmd = app.add_subcommand("import", "copy a GGUF file into the model store under a name");
  cmd->add_option("file", o->file, "the .gguf file")->required();
  cmd->add_option("--name", o->name, "NAME[:TAG] in the store (default: the file name without .gguf)");
  add_models_option(cmd, o->models);
  return [o] {
    std::string name = o->name;
    if (name.empty()) {
      name = o->file.substr(o->file.find_last_of('/') + 1);
      if (name.size() > 5 && name.compare(name.size() - 5, 5, ".gguf") == 0) name.resize(name.size() - 5);
    }
    ModelStore store = open_store(o->models);
    StoreModel m = store.import_file(o->file, name, store_progress_bar());
    std::printf("imported %s as %s (%s) into %s\n", o->file.c_str(), m.name.c_str(), m.digest.c_str(),
                store.dir().c_str());
    return 0;
  };
}

Runner add_list(CLI::App& app) {
  auto models = std::make_shared<std::string>();
  CLI::App* cmd = app.add_subcommand("list", "list the models in the store");
  cmd->alias("ls");
  add_models_option(cmd, *models);
  return [models] { return list(*models); };
}

Runner add_rm(CLI::App& app) {
  struct O {
    std::vector<std::string> names;
    std::string models;
  };
  auto o = std::make_shared<O>();
  CLI::App* cmd = app.add_subcommand("rm", "remove models from the store (files no name uses are deleted)");
  cmd->add_option("names", o->names, "NAME[:TAG] ...")->required();
  add_models_option(cmd, o->models);
  return [o] {
    ModelStore store = open_store(o->models);
    int status = 0;
    for (const std::string& n : o->names) {
      try {
        store.remove(n);
        std::printf("deleted '%s'\n", n.c_str());
      } catch (const Error& e) {
        std::fprintf(stderr, "error: %s\n", e.what());
        status = 1;
      }
    }
    return status;
  };
}

Runner add_cp(CLI::App& app) {
  struct O {
    std::string src, dst, models;
  };
  auto o = std::make_shared<O>();
  CLI::App* cmd = app.add_subcommand("cp", "give a model another name (no copy of the file is made)");
  cmd->add_option("source", o->src, "NAME[:TAG]")->required();
  cmd->add_option("destination", o->dst, "NAME[:TAG]")->required();
  add_models_option(cmd, o->models);
  return [o] {
    ModelStore store = open_store(o->models);
    StoreModel m = store.copy(o->src, o->dst);
    std::printf("copied '%s' to '%s'\n", o->src.c_str(), m.name.c_str());
    return 0;
  };
}

Runner add_create(CLI::App& app) {
  struct O {
    std::string name, file, models;
  };
  auto o = std::make_shared<O>();
  CLI::App* cmd = app.add_subcommand(
      "create", "create a model from a profile (FROM base, SYSTEM prompt, PARAMETER key value, TEMPLATE)");
  cmd->add_option("name", o->name, "NAME[:TAG] to create")->required();
  cmd->add_option("-f,--file", o->file, "the profile file (Modelfile-like)")->required();
  add_models_option(cmd, o->models);
  return [o] {
    std::ifstream f(o->file);
    if (!f) throw Error("cannot read profile '" + o->file + "'");
    std::stringstream ss;
    ss << f.rdbuf();
    Profile p = parse_profile(ss.str());
    // A relative FROM path is relative to the profile's directory, as with Ollama's Modelfile.
    if (!p.from.empty() && p.from[0] != '/') {
      const std::string dir = o->file.find('/') == std::string::npos ? "." : o->file.substr(0, o->file.rfind('/'));
      if (access((dir + "/" + p.from).c_str(), R_OK) == 0) p.from = dir + "/" + p.from;
    }
    ModelStore store = open_store(o->models);
    StoreModel m = store.create(o->name, p, store_progress_bar());
    std::printf("created '%s' from '%s'\n", m.name.c_str(), p.from.c_str());
    return 0;
  };
}

Runner add_show(CLI::App& app) {
  struct O {
    std::string name, models;
    bool modelfile = false;
  };
  auto o = std::make_shared<O>();
  CLI::App* cmd = app.add_subcommand("show", "show a stored model: file, digest, architecture, profile");
  cmd->add_option("name", o->name, "NAME[:TAG]")->required();
  cmd->add_flag("--modelfile", o->modelfile, "print the model as a profile (FROM/SYSTEM/PARAMETER/TEMPLATE)");
  add_models_option(cmd, o->models);
  return [o] { return show(o->models, o->name, o->modelfile); };
}

}  // namespace hearth::cli

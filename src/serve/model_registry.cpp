#include "serve/model_registry.h"

#include <algorithm>
#include <filesystem>

#include "hearth/error.h"
#include "serve/api_error.h"

namespace hearth::serve {
namespace fs = std::filesystem;

namespace {

std::chrono::system_clock::time_point file_time(const fs::path& p) {
  std::error_code ec;
  auto t = fs::last_write_time(p, ec);
  if (ec) return std::chrono::system_clock::now();
  return std::chrono::file_clock::to_sys(t);
}

ModelEntry entry_for(const fs::path& p, const std::string& name) {
  ModelEntry e;
  e.path = p.string();
  e.name = name.empty() ? p.stem().string() : name;
  std::error_code ec;
  e.size = fs::file_size(p, ec);
  e.modified = file_time(p);
  return e;
}

}  // namespace

std::string normalize_model_name(const std::string& name) {
  std::string n = name;
  if (n.size() > 7 && n.compare(n.size() - 7, 7, ":latest") == 0) n.resize(n.size() - 7);
  if (n.size() > 5 && n.compare(n.size() - 5, 5, ".gguf") == 0) n.resize(n.size() - 5);
  return n;
}

ModelRegistry::ModelRegistry(const ServerOptions& options) : opt_(options) {
  if (opt_.parallel < 1) throw Error("--parallel must be at least 1, got " + std::to_string(opt_.parallel));
  if (opt_.model_path.empty() && opt_.models_dir.empty())
    throw Error("no model to serve: give a model file (-m FILE.gguf) or a directory (--models DIR)");
  if (!opt_.models_dir.empty() && !fs::is_directory(opt_.models_dir))
    throw Error("--models: '" + opt_.models_dir + "' is not a directory");
  if (!opt_.model_path.empty()) {
    if (!fs::is_regular_file(opt_.model_path)) throw Error("model file not found: '" + opt_.model_path + "'");
    fixed_ = entry_for(opt_.model_path, opt_.alias);
    fixed_model_ = load(fixed_);
  }
}

std::vector<ModelEntry> ModelRegistry::list_dir() const {
  std::vector<ModelEntry> out;
  if (opt_.models_dir.empty()) return out;
  std::error_code ec;
  for (const auto& de : fs::directory_iterator(opt_.models_dir, ec)) {
    if (!de.is_regular_file() || de.path().extension() != ".gguf") continue;
    out.push_back(entry_for(de.path(), ""));
  }
  std::sort(out.begin(), out.end(), [](const ModelEntry& a, const ModelEntry& b) { return a.name < b.name; });
  return out;
}

std::vector<ModelEntry> ModelRegistry::list() const {
  std::vector<ModelEntry> out;
  if (fixed_model_) out.push_back(fixed_);
  for (ModelEntry& e : list_dir())
    if (!fixed_model_ || e.name != fixed_.name) out.push_back(std::move(e));
  return out;
}

std::shared_ptr<LoadedModel> ModelRegistry::load(const ModelEntry& e) {
  auto t0 = std::chrono::steady_clock::now();
  auto m = std::make_shared<LoadedModel>();
  m->name = e.name;
  m->path = e.path;
  LoadParams lp = opt_.load;
  SessionParams sp;
  sp.n_ctx = opt_.n_ctx;
  sp.n_seq = opt_.parallel;
  sp.n_batch = opt_.n_batch;
  lp.n_ctx = opt_.n_ctx;
  m->model = Model::load(e.path, lp);
  m->scheduler = std::make_unique<Scheduler>(*m->model, sp);
  m->loaded_at = std::chrono::system_clock::now();
  m->load_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  return m;
}

std::shared_ptr<LoadedModel> ModelRegistry::get(const std::string& requested, double* load_ms) {
  if (load_ms) *load_ms = 0;
  const std::string name = normalize_model_name(requested);
  if (fixed_model_ && (name == fixed_.name || requested == fixed_.name)) return fixed_model_;
  std::lock_guard<std::mutex> lock(mu_);
  if (dir_model_ && dir_model_->name == name) return dir_model_;
  for (const ModelEntry& e : list_dir()) {
    if (e.name != name) continue;
    // One --models model at a time: requests still running keep the previous one alive until they end.
    dir_model_.reset();
    try {
      dir_model_ = load(e);
    } catch (const std::exception& ex) {
      throw ApiError(500, "model '" + name + "' failed to load: " + ex.what(), "server_error", "model_load_failed");
    }
    if (load_ms) *load_ms = dir_model_->load_ms;
    return dir_model_;
  }
  throw ApiError(404, "model '" + requested + "' not found", "not_found_error", "model_not_found");
}

std::vector<std::shared_ptr<LoadedModel>> ModelRegistry::loaded() const {
  std::vector<std::shared_ptr<LoadedModel>> out;
  if (fixed_model_) out.push_back(fixed_model_);
  std::lock_guard<std::mutex> lock(mu_);
  if (dir_model_) out.push_back(dir_model_);
  return out;
}

void ModelRegistry::unload_all() {
  std::lock_guard<std::mutex> lock(mu_);
  dir_model_.reset();
  fixed_model_.reset();
}

}  // namespace hearth::serve

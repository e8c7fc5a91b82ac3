#include "serve/model_registry.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>

#include "backend/backend.h"
#include "hearth/error.h"
#include "serve/api_error.h"
#include "serve/store_models.h"

namespace hearth::serve {
namespace fs = std::filesystem;

namespace {

std::chrono::system_clock::time_point file_time(const fs::path& p) {
  std::error_code ec;
  auto t = fs::last_write_time(p, ec);
  if (ec) return std::chrono::system_clock::now();
  return std::chrono::file_clock::to_sys(t);
}

std::string mib(uint64_t bytes) {
  char buf[32];
  if (bytes >= (1ull << 30)) std::snprintf(buf, sizeof buf, "%.2f GiB", bytes / 1073741824.0);
  else std::snprintf(buf, sizeof buf, "%.1f MiB", bytes / 1048576.0);
  return buf;
}

std::string millis(double ms) {
  char buf[32];
  if (ms >= 10000) std::snprintf(buf, sizeof buf, "%.1f s", ms / 1000);
  else std::snprintf(buf, sizeof buf, "%.0f ms", ms);
  return buf;
}

double ms_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

// A log line must never take the server down (the sink is the embedder's).
void log_line(const std::function<void(const std::string&)>& log, const std::string& line) {
  if (!log) return;
  try {
    log(line);
  } catch (...) {
  }
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

LoadedModel::~LoadedModel() {
  const auto t0 = std::chrono::steady_clock::now();
  scheduler.reset();
  model.reset();
  if (external || !log) return;
  try {  // a destructor: nothing may escape
    const double loaded_s = std::chrono::duration<double>(std::chrono::system_clock::now() - loaded_at).count();
    char span[32];
    std::snprintf(span, sizeof span, "%.1f s", loaded_s);
    log_line(log, "unloaded " + name + " after " + span + " (" +
                      (unload_reason.empty() ? std::string("the server is stopping") : unload_reason) +
                      "): weights " + mib(need.weights) + ", KV cache " + mib(need.kv) + " freed in " +
                      millis(ms_since(t0)));
  } catch (...) {
  }
}

std::string LoadedModel::id() const {
  if (!digest.empty() || !file_digest) return digest;
  return file_digest->get();
}

int64_t ModelUse::now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now().time_since_epoch()).count();
}

namespace {
std::atomic<uint64_t> use_counter{0};
}  // namespace

void ModelUse::mark_used() {
  last_used_ms = now_ms();
  last_use_order = ++use_counter;
}

void ModelUse::touch(KeepAlive keep_alive) {
  keep_alive_ms = keep_alive.count() < 0 ? -1 : keep_alive.count();
  mark_used();
}

void ModelUse::end() {
  mark_used();
  --active;
}

bool ModelUse::expired(int64_t now) const {
  const int64_t ka = keep_alive_ms;
  return active == 0 && ka >= 0 && now >= last_used_ms + ka;
}

std::optional<std::chrono::system_clock::time_point> ModelUse::expires_at() const {
  const int64_t ka = keep_alive_ms;
  if (ka < 0) return std::nullopt;
  const int64_t now = now_ms();
  const int64_t from = active > 0 ? now : last_used_ms.load();  // a running request restarts it when it ends
  return std::chrono::system_clock::now() + std::chrono::milliseconds(std::max<int64_t>(0, from + ka - now));
}

bool same_model(const std::string& entry_name, const std::string& requested) {
  return entry_name == requested || normalize_model_name(entry_name) == normalize_model_name(requested);
}

ModelRegistry::ModelRegistry(const ServerOptions& options) : opt_(options) {
  if (opt_.parallel < 1) throw Error("--parallel must be at least 1, got " + std::to_string(opt_.parallel));
  if (opt_.external) {
    // The only model: requests for it go to its generator; nothing is listed, loaded or unloaded.
    opt_.model_path.clear();
    opt_.models_dir.clear();
  }
  if (opt_.model_path.empty() && opt_.models_dir.empty() && !opt_.external)
    throw Error("no model to serve: give a model file (-m FILE.gguf) or a directory (--models DIR)");
  if (!opt_.models_dir.empty() && !fs::is_directory(opt_.models_dir))
    throw Error("--models: '" + opt_.models_dir + "' is not a directory");
  try {
    keep_alive_ = parse_duration(opt_.keep_alive);
  } catch (const Error& e) {
    throw Error(std::string("--keep-alive: ") + e.what());
  }
  if (opt_.max_loaded < 0) throw Error("--max-loaded must be at least 1 (0: automatic), got " + std::to_string(opt_.max_loaded));
  const int gpus = opt_.load.n_gpu_layers != 0 ? cuda_device_count() : 0;
  max_loaded_ = opt_.max_loaded > 0 ? opt_.max_loaded : gpus > 0 ? 3 * gpus : 1;
  if (const auto& x = opt_.external) {
    if (!x->model || !x->generator) throw Error("external model without a tokenizer or generator");
    fixed_.name = x->name;
    fixed_.path = x->path;
    fixed_.modified = file_time(x->path);
    fixed_.size = x->model->info().file_size;
    has_fixed_ = true;
    auto m = std::make_shared<LoadedModel>();
    m->name = x->name;
    m->path = x->path;
    m->model = x->model;
    m->scheduler = x->generator;
    m->external = true;
    m->placement = x->placement;
    m->loaded_at = std::chrono::system_clock::now();
    m->use->touch(KeepAlive(-1));
    loaded_.push_back(std::move(m));
  } else if (!opt_.model_path.empty()) {
    if (!fs::is_regular_file(opt_.model_path)) throw Error("model file not found: '" + opt_.model_path + "'");
    fixed_ = entry_for(opt_.model_path, opt_.alias);
    has_fixed_ = true;
    fixed_digest_ = std::make_shared<FileDigest>(fixed_.path);
    MemoryNeed need;
    const std::string refusal = check_fits(fixed_, &need);
    if (!refusal.empty()) throw Error("cannot load '" + fixed_.path + "': " + refusal);
    auto m = load(fixed_, need);
    m->use->touch(keep_alive_);
    loaded_.push_back(std::move(m));
  }
  reaper_ = std::thread([this] {
    // Nothing may escape a thread (std::terminate): after an error (out of memory) the reaper looks again.
    for (;;) {
      try {
        reap_loop();
        return;
      } catch (...) {
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
      }
    }
  });
}

ModelRegistry::~ModelRegistry() { unload_all(); }

std::vector<ModelEntry> ModelRegistry::list_dir() const {
  // The model store: registered NAME:TAG models, then loose *.gguf files by stem.
  return list_store_entries(opt_.models_dir);
}

std::vector<ModelEntry> ModelRegistry::list() const {
  std::vector<ModelEntry> out;
  if (has_fixed_) {
    out.push_back(fixed_);
    if (fixed_digest_) out.back().digest = fixed_digest_->get();
  }
  for (ModelEntry& e : list_dir())
    if (!has_fixed_ || e.name != fixed_.name) out.push_back(std::move(e));
  return out;
}

int ModelRegistry::context_for(const ModelEntry& e) const {
  // A profile's PARAMETER num_ctx (the last one) is the model's; otherwise the server's -c.
  int n_ctx = opt_.n_ctx;
  for (const auto& [key, value] : e.profile.parameters)
    if (key == "num_ctx") {
      const long long v = std::strtoll(value.c_str(), nullptr, 10);
      if (v >= kMinNumCtx && v <= kMaxNumCtx) n_ctx = static_cast<int>(v);  // checked when the profile was created
    }
  return n_ctx;
}

std::string ModelRegistry::check_fits(const ModelEntry& e, MemoryNeed* need) const {
  LoadParams lp = opt_.load;
  lp.n_ctx = context_for(e);
  return check_model_fits(e.path, lp, opt_.parallel, opt_.n_batch, opt_.meminfo_path, need);
}

std::shared_ptr<LoadedModel> ModelRegistry::load(const ModelEntry& e, const MemoryNeed& need) {
  auto t0 = std::chrono::steady_clock::now();
  auto m = std::make_shared<LoadedModel>();
  m->name = e.name;
  m->path = e.path;
  m->profile = e.profile;
  m->digest = e.digest;
  m->need = need;
  if (has_fixed_ && e.name == fixed_.name && e.path == fixed_.path) m->file_digest = fixed_digest_;
  LoadParams lp = opt_.load;
  SessionParams sp;
  sp.n_ctx = context_for(e);
  sp.n_seq = opt_.parallel;
  sp.n_batch = opt_.n_batch;
  lp.n_ctx = sp.n_ctx;
  const std::string ctx = "context " + std::to_string(need.n_ctx) + " x " + std::to_string(need.n_seq) + " sequences";
  log_line(opt_.log, "loading " + e.name + " from " + e.path + " (" + mib(e.size) + " file; " + ctx + ")");
  try {
    m->model = Model::load(e.path, lp);
    if (opt_.test_load_delay_ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(opt_.test_load_delay_ms));
    m->scheduler = std::make_shared<Scheduler>(*m->model, sp);
  } catch (const std::exception& ex) {
    log_line(opt_.log, "failed to load " + e.name + " after " + millis(ms_since(t0)) + ": " + ex.what());
    throw;
  }
  m->placement = m->model->placement().text;
  m->loaded_at = std::chrono::system_clock::now();
  m->load_ms = ms_since(t0);
  m->log = opt_.log;  // from here on its unload is logged
  log_line(opt_.log, "loaded " + e.name + " in " + millis(m->load_ms) + " (" + m->model->info().arch + " " +
                         m->model->info().file_type + "; weights " + mib(need.weights) + ", KV cache " + mib(need.kv) +
                         ", compute " + mib(need.compute) + ", " + ctx + "; " + m->placement + ")");
  return m;
}

std::shared_ptr<LoadedModel> ModelRegistry::find_loaded(const std::string& requested) const {
  for (const auto& m : loaded_)
    if (same_model(m->name, requested)) return m;
  return nullptr;
}

bool ModelRegistry::make_room(std::unique_lock<std::mutex>& lock, std::vector<std::shared_ptr<LoadedModel>>& dropped) {
  while (static_cast<int>(loaded_.size()) >= max_loaded_) {
    // The least recently used model without a generation; a request that still holds it keeps it alive
    // until it ends.
    auto lru = loaded_.end();
    for (auto it = loaded_.begin(); it != loaded_.end(); ++it)
      if ((*it)->use->active == 0 && !(*it)->external &&
          (lru == loaded_.end() || (*it)->use->last_use_order < (*lru)->use->last_use_order))
        lru = it;
    if (lru != loaded_.end()) {
      (*lru)->unload_reason = "to make room: --max-loaded " + std::to_string(max_loaded_);
      dropped.push_back(std::move(*lru));
      loaded_.erase(lru);
      continue;
    }
    // All are generating: wait in line for one to finish (as Ollama queues), unless the line is full.
    if (waiting_ >= opt_.max_queue)
      throw ApiError(503,
                     std::to_string(loaded_.size()) + " models are loaded (--max-loaded " + std::to_string(max_loaded_) +
                         "), all are generating and " + std::to_string(waiting_) +
                         " requests wait for room (--max-queue); retry later",
                     "server_error", "too_many_models");
    ++waiting_;
    // Generations end on their schedulers' threads without telling the registry: look again soon.
    cv_.wait_for(lock, std::chrono::milliseconds(50));
    --waiting_;
    return false;
  }
  return true;
}

bool ModelRegistry::is_current(LoadedModel& m, std::vector<std::shared_ptr<LoadedModel>>& dropped) {
  // Store models only (loose files and -m have no digest): the store may have changed since the load (hearth rm,
  // create or cp, or the HTTP API).
  if (m.external || m.digest.empty() || opt_.models_dir.empty()) return true;
  std::optional<ModelEntry> now = find_store_entry(opt_.models_dir, m.name);
  if (now && now->digest == m.digest && now->profile == m.profile) return true;
  if (m.use->active > 0) {
    if (now) return true;  // re-created while generating: the new version loads once the running requests end
    m.unload_reason = "removed from the store";
    m.use->touch(KeepAlive(0));  // deleted: unloaded when its requests end; none start now
    cv_.notify_all();
    return false;
  }
  auto it = std::find_if(loaded_.begin(), loaded_.end(), [&](auto& p) { return p.get() == &m; });
  if (it != loaded_.end()) {
    m.unload_reason = now ? "changed in the store" : "removed from the store";
    dropped.push_back(std::move(*it));
    loaded_.erase(it);
  }
  return false;
}

std::shared_ptr<LoadedModel> ModelRegistry::get(const std::string& requested, double* load_ms,
                                                std::optional<KeepAlive> keep_alive) {
  if (load_ms) *load_ms = 0;
  const KeepAlive ka = keep_alive.value_or(keep_alive_);
  std::vector<std::shared_ptr<LoadedModel>> dropped;  // unloaded to make room: freed after the lock
  std::unique_lock<std::mutex> lock(mu_);
  auto free_dropped = [&] {  // the memory goes with the lock released (a scheduler thread is joined)
    if (dropped.empty()) return;
    lock.unlock();
    dropped.clear();
    lock.lock();
  };
  std::optional<ModelEntry> entry;
  for (;;) {
    if (stopping_) throw ApiError(503, "the server is shutting down", "server_error", "unavailable");
    if (auto m = find_loaded(requested)) {
      if (is_current(*m, dropped)) {
        m->unload_reason.clear();  // wanted again: an earlier unload request no longer says why it goes
        m->use->touch(m->external ? KeepAlive(-1) : ka);
        cv_.notify_all();
        return m;
      }
      free_dropped();  // a stale copy no request uses: freed before the fresh one loads
    }
    if (!entry) {
      if (has_fixed_ && same_model(fixed_.name, requested)) entry = fixed_;
      if (!entry)
        for (ModelEntry& e : list_dir())
          if (same_model(e.name, requested)) {
            entry = std::move(e);
            break;
          }
      if (!entry) throw ApiError(404, "model '" + requested + "' not found", "not_found_error", "model_not_found");
    }
    // One load at a time, so that each load's free-memory check holds; this one may be the model wanted here.
    if (!loading_.empty()) {
      cv_.wait_for(lock, std::chrono::milliseconds(50));
      continue;
    }
    const bool room = make_room(lock, dropped);  // false: waited for a busy model; look again
    if (room && dropped.empty()) break;
    free_dropped();  // the evicted models go before free memory is measured
  }
  MemoryNeed need;
  const std::string refusal = check_fits(*entry, &need);
  if (!refusal.empty())
    throw ApiError(507, "cannot load model '" + entry->name + "': " + refusal, "server_error", "insufficient_memory");
  // Load without the lock: requests for loaded models, /api/ps and the lists go on meanwhile.
  loading_ = entry->name;
  lock.unlock();
  std::shared_ptr<LoadedModel> m;
  std::string error;
  try {
    m = load(*entry, need);
  } catch (const std::exception& ex) {
    error = ex.what();
  }
  lock.lock();
  loading_.clear();
  cv_.notify_all();
  if (!m)
    throw ApiError(500, "model '" + entry->name + "' failed to load: " + error, "server_error", "model_load_failed");
  if (stopping_) {
    dropped.push_back(std::move(m));
    free_dropped();
    throw ApiError(503, "the server is shutting down", "server_error", "unavailable");
  }
  m->use->touch(ka);
  loaded_.push_back(m);
  if (load_ms) *load_ms = m->load_ms;
  return m;
}

bool ModelRegistry::unload(const std::string& requested) {
  std::shared_ptr<LoadedModel> drop;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = std::find_if(loaded_.begin(), loaded_.end(), [&](auto& m) { return same_model(m->name, requested); });
    if (it == loaded_.end()) return false;
    if ((*it)->external) return true;  // served for as long as the server runs
    (*it)->unload_reason = "unload requested (keep_alive 0)";
    (*it)->use->touch(KeepAlive(0));
    // Never under a generation: the reaper takes it once its requests end.
    if ((*it)->use->active == 0) {
      drop = std::move(*it);
      loaded_.erase(it);
    }
    cv_.notify_all();
  }
  return true;
}

bool ModelRegistry::offers(const std::string& requested) const {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (find_loaded(requested)) return true;
  }
  if (has_fixed_ && same_model(fixed_.name, requested)) return true;
  for (const ModelEntry& e : list_dir())
    if (same_model(e.name, requested)) return true;
  return false;
}

std::vector<std::shared_ptr<LoadedModel>> ModelRegistry::loaded() const {
  std::vector<std::shared_ptr<LoadedModel>> out;
  {
    std::lock_guard<std::mutex> lock(mu_);
    out = loaded_;
  }
  std::stable_sort(out.begin(), out.end(),
                   [](auto& a, auto& b) { return a->use->last_use_order > b->use->last_use_order; });
  return out;
}

void ModelRegistry::reap_loop() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stopping_) {
    std::vector<std::shared_ptr<LoadedModel>> drop;
    const int64_t now = ModelUse::now_ms();
    bool finite = false;  // a model that may expire: look again soon
    for (auto it = loaded_.begin(); it != loaded_.end();) {
      // use_count 1: only the registry holds it (no request between get() and its generation).
      if ((*it)->use->expired(now) && it->use_count() == 1) {
        if ((*it)->unload_reason.empty())
          (*it)->unload_reason = "idle for its keep-alive of " + millis(static_cast<double>((*it)->use->keep_alive_ms));
        drop.push_back(std::move(*it));
        it = loaded_.erase(it);
      } else {
        finite = finite || (*it)->use->keep_alive_ms >= 0;
        ++it;
      }
    }
    if (!drop.empty()) {
      lock.unlock();
      drop.clear();  // the scheduler's thread is joined and the memory freed outside the lock
      lock.lock();
      continue;
    }
    // Generations end on their schedulers' threads without telling the registry: poll while a model may expire.
    if (finite) cv_.wait_for(lock, std::chrono::milliseconds(100));
    else cv_.wait(lock);
  }
}

void ModelRegistry::unload_all() {
  std::vector<std::shared_ptr<LoadedModel>> drop;
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
    drop.swap(loaded_);
  }
  cv_.notify_all();
  if (reaper_.joinable()) reaper_.join();
  drop.clear();
}

}  // namespace hearth::serve

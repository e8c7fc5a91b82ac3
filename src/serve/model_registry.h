// The models a server offers: the one given with -m (loaded at start) and the store / *.gguf files of --models
// (loaded on first use). Each loaded model has its own Scheduler. Loaded models follow a keep-alive (Ollama's):
// a model whose keep-alive has run out since its last request, and that no request uses, is unloaded by a
// background reaper; at most --max-loaded are loaded at once (the least recently used idle one makes room); a
// load that does not fit in free memory is refused before anything is allocated.
#pragma once
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <string>
#include <vector>

#include "hearth/model.h"
#include "hearth/scheduler.h"
#include "hearth/server.h"
#include "hearth/store.h"
#include "placement/memory_fit.h"
#include "serve/keep_alive.h"

namespace hearth::serve {

class FileDigest;

// What a model's generations share with the registry for its lifecycle. The scheduler's callbacks hold this,
// never the model (the last reference to a LoadedModel must not drop on its own scheduler's thread).
struct ModelUse {
  using Clock = std::chrono::steady_clock;
  std::atomic<int> active{0};                // generations queued or running
  std::atomic<int64_t> keep_alive_ms{0};     // of the latest request; < 0: forever
  std::atomic<int64_t> last_used_ms{0};      // steady clock, when a request last began or ended (keep-alive)
  // Order of the latest use among all models (LRU order): a counter, since several requests can begin and
  // end within one millisecond.
  std::atomic<uint64_t> last_use_order{0};
  static int64_t now_ms();
  void mark_used();  // last_used_ms and last_use_order now
  // A request for the model arrived (its keep_alive, or the server's default).
  void touch(KeepAlive keep_alive);
  void begin() { ++active; }
  void end();
  // Idle, and its keep-alive has run out.
  bool expired(int64_t now) const;
  // When it will be unloaded if no request comes (system clock); nullopt: never.
  std::optional<std::chrono::system_clock::time_point> expires_at() const;
};

struct LoadedModel {
  std::string name;
  std::string path;
  std::shared_ptr<Model> model;
  std::shared_ptr<BatchGenerator> scheduler;  // destroyed before model
  bool external = false;  // ServerOptions::external: never unloaded, no embeddings
  std::string placement;  // where it runs (the model's placement text, or the external model's)
  std::chrono::system_clock::time_point loaded_at;
  double load_ms = 0;
  Profile profile;  // defaults for requests, from the store (serve/store_models.h)
  std::string digest;  // "sha256:<hex>" for store models
  std::shared_ptr<const FileDigest> file_digest;  // -m: its file's, once hashed (digest stays empty: no store model)
  MemoryNeed need;     // the estimate the load was checked with
  std::shared_ptr<ModelUse> use = std::make_shared<ModelUse>();
  // ServerOptions::log, and why the registry let the model go (set under its lock): the destructor, where the
  // memory is freed, logs the unload with both.
  std::function<void(const std::string&)> log;
  std::string unload_reason;

  ~LoadedModel();  // the scheduler goes first (its thread is joined), then the model
  // The ID clients show (Ollama's digest): digest, else the -m file's once it is known.
  std::string id() const;
};

struct ModelEntry {
  std::string name;  // alias or file stem
  std::string path;
  uint64_t size = 0;
  std::chrono::system_clock::time_point modified;
  std::string digest{};  // "sha256:<hex>" for store models; empty for files
  Profile profile{};     // store profiles: system prompt, parameters, template
};

class ModelRegistry {
 public:
  // Loads options.model_path now (throws hearth::Error when it fails) and lists options.models_dir.
  explicit ModelRegistry(const ServerOptions& options);
  ~ModelRegistry();

  // Every model offered (models_dir is listed again on each call, so new files appear).
  std::vector<ModelEntry> list() const;
  // The loaded model named name (":latest" and a ".gguf" suffix are ignored), loading it first when
  // needed; throws ApiError 404 for unknown names, 507 when it does not fit in memory, 503 when --max-loaded
  // models are all busy and --max-queue requests already wait for one, and 500 when loading fails. While all
  // are busy it waits for one to finish. load_ms > 0 when it loaded now. keep_alive: the request's
  // (nullopt: the server's default); it applies from the end of the request.
  std::shared_ptr<LoadedModel> get(const std::string& name, double* load_ms = nullptr,
                                   std::optional<KeepAlive> keep_alive = std::nullopt);
  // Unloads the model now if no request uses it, or else as soon as its requests end (Ollama's keep_alive 0).
  // False when it is not loaded.
  bool unload(const std::string& name);
  // Whether name is a model this server offers (loaded or not).
  bool offers(const std::string& name) const;
  // The models loaded now, most recently used first.
  std::vector<std::shared_ptr<LoadedModel>> loaded() const;
  // Cancels everything (server shutdown).
  void unload_all();
  KeepAlive default_keep_alive() const { return keep_alive_; }

 private:
  // Loads e (need: check_fits' estimate), logging the start, the end and a failure (ServerOptions::log).
  std::shared_ptr<LoadedModel> load(const ModelEntry& e, const MemoryNeed& need);
  std::vector<ModelEntry> list_dir() const;
  std::shared_ptr<LoadedModel> find_loaded(const std::string& name) const;  // under mu_
  // Under mu_ (held by lock): unloads idle models (least recently used first) into dropped until one more fits
  // --max-loaded and returns true; when all are generating, waits a moment for one to finish (the lock released)
  // and returns false (the caller looks again); throws ApiError 503 when --max-queue requests already wait.
  bool make_room(std::unique_lock<std::mutex>& lock, std::vector<std::shared_ptr<LoadedModel>>& dropped);
  std::string check_fits(const ModelEntry& e, MemoryNeed* need) const;  // empty, or the refusal
  int context_for(const ModelEntry& e) const;  // the profile's num_ctx, else the server's n_ctx
  // Under mu_: whether a loaded store model is still what the store holds under its name; when not and no request
  // uses it, it moves to dropped (a busy re-created one stays current until its requests end).
  bool is_current(LoadedModel& m, std::vector<std::shared_ptr<LoadedModel>>& dropped);
  void reap_loop();

  ServerOptions opt_;
  KeepAlive keep_alive_;
  int max_loaded_ = 1;
  ModelEntry fixed_;   // -m, when given (loaded at start)
  bool has_fixed_ = false;
  std::shared_ptr<const FileDigest> fixed_digest_;  // of fixed_'s file, hashed in the background once listed
  mutable std::mutex mu_;
  std::condition_variable cv_;  // wakes the reaper
  bool stopping_ = false;
  int waiting_ = 0;       // requests waiting in make_room
  std::string loading_;   // the model being loaded (without mu_ held); empty: none
  std::vector<std::shared_ptr<LoadedModel>> loaded_;
  std::thread reaper_;
};

// The name a request's model field refers to, without Ollama's ":latest" tag or a ".gguf" suffix.
std::string normalize_model_name(const std::string& name);
// Whether a request's model field names the model listed as entry_name (as given, or both normalized).
bool same_model(const std::string& entry_name, const std::string& requested);

}  // namespace hearth::serve

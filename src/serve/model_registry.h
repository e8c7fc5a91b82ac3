// The models a server offers: the one given with -m (loaded at start) and the *.gguf files of --models
// (loaded on first use; one of those is kept loaded at a time). Each loaded model has its own Scheduler.
#pragma once
#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "hearth/model.h"
#include "hearth/scheduler.h"
#include "hearth/server.h"

namespace hearth::serve {

struct LoadedModel {
  std::string name;
  std::string path;
  std::unique_ptr<Model> model;
  std::unique_ptr<Scheduler> scheduler;  // destroyed before model
  std::chrono::system_clock::time_point loaded_at;
  double load_ms = 0;

  ~LoadedModel() { scheduler.reset(); }
};

struct ModelEntry {
  std::string name;  // alias or file stem
  std::string path;
  uint64_t size = 0;
  std::chrono::system_clock::time_point modified;
};

class ModelRegistry {
 public:
  // Loads options.model_path now (throws hearth::Error when it fails) and lists options.models_dir.
  explicit ModelRegistry(const ServerOptions& options);

  // Every model offered (models_dir is listed again on each call, so new files appear).
  std::vector<ModelEntry> list() const;
  // The loaded model named name (":latest" and a ".gguf" suffix are ignored), loading it first when
  // needed; throws ApiError 404 for unknown names and 500 when loading fails. load_ms > 0 when it loaded now.
  std::shared_ptr<LoadedModel> get(const std::string& name, double* load_ms = nullptr);
  // The models loaded now.
  std::vector<std::shared_ptr<LoadedModel>> loaded() const;
  // Cancels everything (server shutdown).
  void unload_all();

 private:
  std::shared_ptr<LoadedModel> load(const ModelEntry& e);
  std::vector<ModelEntry> list_dir() const;

  ServerOptions opt_;
  ModelEntry fixed_;                          // -m, when given
  std::shared_ptr<LoadedModel> fixed_model_;  // loaded at start
  mutable std::mutex mu_;
  std::shared_ptr<LoadedModel> dir_model_;    // the --models model loaded last
};

// The name a request's model field refers to, without Ollama's ":latest" tag or a ".gguf" suffix.
std::string normalize_model_name(const std::string& name);

}  // namespace hearth::serve

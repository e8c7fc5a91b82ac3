// What the server takes from the model store: the models it lists (store names and loose *.gguf files) and
// the defaults a profile gives requests (the request's own values win).
#pragma once
#include <atomic>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "hearth/chat.h"
#include "hearth/generate.h"
#include "hearth/model.h"
#include "hearth/server.h"
#include "hearth/store.h"
#include "serve/api_error.h"

namespace hearth::serve {

struct ModelEntry;

// The models of the store in dir (registered NAME:TAG, then loose files); [] when dir is empty.
std::vector<ModelEntry> list_store_entries(const std::string& dir);
// The registered model NAME[:TAG] as the store has it now; nullopt when it is not there (or unreadable).
std::optional<ModelEntry> find_store_entry(const std::string& dir, const std::string& name);

// A model file the listing could not read (a loose *.gguf that is not a GGUF, or not readable): said in the
// server's log (ServerOptions::access_log) once per file and error, as /api/tags is asked again and again.
void log_unreadable_model(const ServerOptions& options, const std::string& path, const std::string& error);

// The ID ("sha256:<hex>" of the file) of a model served from a path (-m), as the store's models have theirs:
// known at once for a store blob (its file name says it), else hashed on a thread of its own once a listing
// first asks for it: the server does not wait seconds for a large file before it serves, and a server that
// nobody asks for a listing never reads the whole file again (beside the load, on the cores that generate).
class FileDigest {
 public:
  explicit FileDigest(const std::string& path);
  ~FileDigest();  // stops hashing
  FileDigest(const FileDigest&) = delete;
  FileDigest& operator=(const FileDigest&) = delete;
  // "sha256:<hex>", or "" until it is known (or when the file cannot be read); the first call starts hashing.
  std::string get() const;

 private:
  const std::string path_;
  mutable std::mutex mu_;
  mutable std::string digest_;
  mutable bool started_ = false;  // hashing started (or nothing to hash)
  std::atomic<bool> stop_{false};
  mutable std::thread thread_;
};

// Sets each profile parameter that the request did not give. given: the object holding the request's
// sampling fields (OpenAI: the body; Ollama: body["options"], or null). num_ctx is a load-time setting and
// is not applied per request.
void apply_profile_parameters(const Profile& profile, const nlohmann::json& given, ApiStyle style,
                              GenerateParams& params);
// Puts the profile's system prompt first unless the conversation has a system message already.
void apply_profile_system(const Profile& profile, std::vector<ChatMessage>& messages);
// The chat prompt's tokens: in the profile's TEMPLATE when it has one (a family name such as "chatml" or
// "llama3", or a Jinja template of a known family), else in the model's own template.
std::vector<int32_t> tokenize_profile_chat(const Model& model, const Profile& profile,
                                           const std::vector<ChatMessage>& messages);

}  // namespace hearth::serve

// The model store: named models in one directory, so that `hearth run NAME`, `hearth serve` and the
// Ollama/OpenAI APIs refer to models by name instead of by path.
//
// Layout of the store directory (DIR):
//   DIR/blobs/sha256-<hex>              GGUF files, named by the SHA-256 of their content (so `cp` and
//                                       profiles cost nothing, and one file serves many names)
//   DIR/manifests/<name>/<tag>.json     one per NAME:TAG: the blob's digest and size, and for profiles the
//                                       base model, system prompt, parameters and template
//   DIR/tmp/                            downloads in progress (*.part, resumed by the next pull) and
//                                       temporary files of imports (removed when they fail)
//   DIR/*.gguf                          loose files, listed under their file stem (what `hearth serve
//                                       --models DIR` served before the store; they keep working)
// Writes are atomic: a blob is written to a temporary file, synced and renamed into place first, the
// manifest last (the same way), so an interrupted import or pull leaves nothing half-registered.
//
// Which directory: --models DIR, else $HEARTH_MODELS, else a "models = /path" line in the config file
// ($XDG_CONFIG_HOME/hearth/config, else ~/.config/hearth/config), else $XDG_DATA_HOME/hearth/models, else
// ~/.local/share/hearth/models.
#pragma once
#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "hearth/download.h"

namespace hearth {

// NAME[:TAG]. NAME: components of letters, digits, '.', '_' and '-' separated by '/', each starting with a
// letter or digit (no "..", no absolute paths); TAG the same without '/', default "latest".
struct ModelName {
  std::string name;
  std::string tag = "latest";
  std::string str() const { return name + ":" + tag; }
};
// Throws hearth::Error naming what is wrong.
ModelName parse_model_name(const std::string& s);

// A profile: a base model plus the defaults requests get (request values win). Text format (Modelfile-like):
//   # comment
//   FROM <store name or path to a .gguf>
//   SYSTEM <text>                 (or SYSTEM """ several lines """)
//   PARAMETER <key> <value>       temperature top_p top_k min_p repeat_penalty repeat_last_n presence_penalty
//                                 frequency_penalty seed num_predict num_ctx (numbers); stop (a string, may repeat)
//   TEMPLATE <text>               (or TEMPLATE """ ... """): a chat template (Jinja text or a family name such
//                                 as chatml, llama3), used instead of the GGUF's tokenizer.chat_template
struct Profile {
  std::string from;
  std::string system;
  std::string tmpl;
  std::vector<std::pair<std::string, std::string>> parameters;  // in file order; "stop" may repeat
  bool operator==(const Profile&) const = default;
};
Profile parse_profile(const std::string& text);
// PARAMETER num_ctx: the context of the model's loads (the server's -c otherwise).
constexpr long long kMinNumCtx = 16, kMaxNumCtx = 1 << 20;
// Checks one parameter (known key, a number of the right kind); throws hearth::Error otherwise.
void check_profile_parameter(const std::string& key, const std::string& value);
// The parameters as Ollama's /api/show writes them: "key value" lines, stop values quoted.
std::string format_parameters(const std::vector<std::pair<std::string, std::string>>& parameters);

struct StoreModel {
  std::string name;    // "NAME:TAG", or the file stem of a loose .gguf
  std::string path;    // the GGUF file
  std::string digest;  // "sha256:<hex>"; empty for loose files (not hashed)
  uint64_t size = 0;   // bytes of the GGUF file
  std::chrono::system_clock::time_point modified;
  bool loose = false;  // a *.gguf directly in the directory, not registered
  // Profile defaults (empty for plain imports).
  std::string from;    // what it was created or pulled from
  std::string system;
  std::string tmpl;
  std::vector<std::pair<std::string, std::string>> parameters;
};

// Progress of a long store operation: bytes done of total (total 0 when unknown).
using StoreProgress = std::function<void(const std::string& status, uint64_t done, uint64_t total)>;

struct PullOptions {
  std::string name;    // store name; empty: the file name of the source without .gguf
  std::string sha256;  // expected digest (hex); empty: not checked
  uint64_t size = 0;   // expected size in bytes; 0: not checked
  // Where the download may go and how big it may be (the server: public addresses only, --max-pull-size).
  DownloadOptions download;
  // false: a download that fails or is stopped is deleted (the server's pulls, for clients that may never come
  // back); true: its .part stays for the next pull of the same source to resume.
  bool keep_partial = true;
};

class ModelStore {
 public:
  // The directory need not exist yet: writes create it.
  explicit ModelStore(std::string dir);
  const std::string& dir() const { return dir_; }

  // Registered models (sorted by name), then loose *.gguf files.
  std::vector<StoreModel> list() const;
  // A model by NAME[:TAG] (":latest" implied), or a loose file by stem (with or without ".gguf").
  std::optional<StoreModel> find(const std::string& name) const;
  // Like find, but throws hearth::Error ("model 'x' not found in DIR") when absent.
  StoreModel get(const std::string& name) const;

  // Copies a GGUF file into the store (checked to be a readable GGUF first) and registers it as name.
  // progress may throw to abort; a failed import leaves no file behind.
  StoreModel import_file(const std::string& file, const std::string& name, const StoreProgress& progress = {});
  // Downloads an http(s) URL or hf:ORG/REPO/FILE into the store (resuming DIR/tmp/*.part), checks size and
  // sha256, and registers it. A failed check removes the download and registers nothing. Pulls of one source at
  // the same time share one download (the later ones wait for it; in another process, for its .part).
  // progress may throw to stop the pull.
  StoreModel pull(const std::string& source, const PullOptions& options, const StoreProgress& progress = {});
  // Registers a profile as name: its base (p.from) is a store name or a GGUF path (imported first).
  // A store base's own profile is inherited, then overridden by p.
  StoreModel create(const std::string& name, const Profile& p, const StoreProgress& progress = {});
  // dst becomes another name for src (same blob, same profile).
  StoreModel copy(const std::string& src, const std::string& dst);
  // Removes a registered name (not loose files) and the blobs no name uses any more.
  void remove(const std::string& name);
  // Deletes blobs that no manifest references, and the temporary files of imports whose process died; returns
  // how many files it deleted.
  size_t gc();
  // Deletes the downloads in DIR/tmp that no pull is writing (left by pulls that were stopped, failed or whose
  // process died); returns how many files it deleted. The server does this when it starts.
  size_t collect_partial_downloads();

 private:
  std::string dir_;
};

// The store directory and where the choice came from ("--models", "HEARTH_MODELS", "config <path>",
// "default"). flag: the --models value, empty when not given.
struct ModelsDir {
  std::string dir;
  std::string source;
};
ModelsDir resolve_models_dir(const std::string& flag = "");

}  // namespace hearth

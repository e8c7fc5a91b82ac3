// `hearth serve`: a private model service with OpenAI- and Ollama-compatible HTTP APIs. Requests for one
// model share one loaded copy and one continuous-batching Scheduler (--parallel sequences at once).
#pragma once
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "hearth/model.h"

namespace hearth {

class BatchGenerator;

// A model whose generations run elsewhere than in a Scheduler of the server's own: `hearth serve --pipeline`,
// where rank 0 of an MPI job serves and the stages compute. The server tokenizes with `model` and submits to
// `generator`; the model is never unloaded, and embeddings are refused (no single process holds all layers).
struct ExternalModel {
  std::string name;  // its name in requests
  std::string path;  // shown by /api/show and /api/ps
  std::shared_ptr<Model> model;  // tokenizer, chat template and info
  std::shared_ptr<BatchGenerator> generator;
  std::string placement;  // where it runs, for /api/ps (e.g. the pipeline's plan)
};

struct ServerOptions {
  std::string host = "127.0.0.1";  // loopback unless told otherwise
  int port = 8080;                 // 0: an ephemeral port (see Server::port())
  std::string model_path;          // a GGUF file loaded at start (optional when models_dir is given)
  std::string alias;               // its name in requests; empty: the file stem
  std::string models_dir;          // *.gguf files here are served by file stem, loaded on first use
  std::string api_key;             // non-empty: requests need "Authorization: Bearer KEY"
  int parallel = 4;                // sequences generating at once per model (more wait in a queue)
  int n_ctx = 0;                   // context per sequence; 0: the model's, at most 4096
  int n_batch = 512;               // tokens per forward pass
  LoadParams load;                 // threads, GPU layers, ...
  size_t max_body_bytes = 8u << 20;  // larger request bodies get 413
  int http_threads = 64;           // connections served at once (streams hold one each); up to 4x as many
                                   // while they are all taken (slow clients), then more wait
  // How long a model stays loaded after its last request (requests may say otherwise with keep_alive):
  // "5m", "1h30m", "30s", "300ms", a number of seconds; negative or "forever": never unloaded; "0": right away.
  std::string keep_alive = "5m";
  int max_loaded = 0;              // models loaded at once (the least recently used idle one makes room);
                                   // 0: 1 on CPU, 3 per GPU
  int max_queue = 512;             // requests that may wait for room when --max-loaded models are all generating
                                   // (Ollama's OLLAMA_MAX_QUEUE); more get 503
  std::string meminfo_path = "/proc/meminfo";  // where free host memory is read before a load (tests fake it)
  int test_load_delay_ms = 0;      // tests: each load takes this much longer (to watch the server meanwhile)
  // Called with one line per model load (its start, then its time, type, memory and placement, or its failure)
  // and per unload (why, after how long loaded, the memory freed); null: none. `hearth serve` writes them to stderr.
  std::function<void(const std::string& line)> log;
  // /api/pull, which fetches for any client: by default only from public internet addresses (not loopback,
  // private, link-local, ...: checked after DNS and on every redirect), and at most max_pull_bytes (0: no limit).
  bool allow_private_pull = false;
  uint64_t max_pull_bytes = uint64_t{64} << 30;
  std::shared_ptr<ExternalModel> external;  // set: the only model served (model_path and models_dir are ignored)
  // Called with one line per request once its response is sent (serve/access_log.h: no content, ever); null: none.
  std::function<void(const std::string& line)> access_log;

  // HTTP hardening (docs/security.md). A browser page of another site must not drive the server (CSRF, DNS
  // rebinding) and one client must not hold every connection (slowloris).
  // Host header names accepted beside IP literals, loopback names, the bound host and this machine's name
  // ("*": any, e.g. behind a reverse proxy); others get 403.
  std::vector<std::string> allowed_hosts;
  // Origin values ("http://host:port") whose pages may call the server, beside its own origin (the Host the
  // request was sent to) and http://localhost|127.0.0.1|[::1]:PORT ("*": any); other origins get 403.
  std::vector<std::string> allowed_origins;
  // Connections one client address may hold at once; more get 429 at once. 0: half of the HTTP threads, with
  // loopback clients (a local reverse proxy, benchmarks) not limited.
  int max_client_connections = 0;
  int header_timeout_ms = 10000;   // a request line and headers must arrive within this, else 408 and close
  int body_timeout_ms = 60000;     // and the body within this after the headers
};

// The API key kept in a file (`hearth serve --api-key-file`): its first line, without the line end. Refuses a
// file that its group or others may read or write, naming the mode (as ssh does for private keys), and an
// empty key; throws hearth::Error.
std::string read_api_key_file(const std::string& path);

// Totals since start, for tests and logs.
struct ServerCounters {
  uint64_t requests = 0;          // generation requests accepted
  uint64_t finished = 0;          // of them, ended (any reason)
  uint64_t cancelled = 0;         // ended because the client went away
  uint64_t tokens_generated = 0;
  int active = 0;                 // generating or queued now
};

class Server {
 public:
  // Loads model_path (if given) and lists models_dir; throws hearth::Error on bad options or files.
  explicit Server(const ServerOptions& options);
  // Stops serving and waits for every connection and generation to end.
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds host:port and returns the port; throws hearth::Error when it cannot.
  int bind();
  // Serves until stop() (binds first when bind() was not called). Blocks.
  void run();
  // bind() and run() on a background thread.
  void start();
  // Ends run(): open streams are cancelled. Safe from any thread, and more than once.
  void stop();

  int port() const;
  ServerCounters counters() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace hearth

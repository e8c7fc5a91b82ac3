// hearth serve: OpenAI- and Ollama-compatible HTTP APIs over local models (loopback unless told otherwise).
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>

#include <thread>

#include "commands.h"
#include "hearth/server.h"
#include "hearth/store.h"
#include "pipeline_cli.h"

namespace hearth::cli {
namespace {

Server* g_server = nullptr;
std::atomic<bool> g_stop{false};

void on_signal(int) {
  g_stop = true;
  if (g_server) g_server->stop();
}

}  // namespace

int serve_until_signal(Server& server, const ServerOptions& o, const std::function<void(const std::atomic<bool>&)>& work) {
  const int port = server.bind();
  g_server = &server;
  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
  std::fprintf(stderr, "hearth serve: listening on http://%s:%d (OpenAI API under /v1, Ollama API under /api)%s\n",
               o.host.c_str(), port, o.api_key.empty() ? "" : ", API key required");
  if (o.host != "127.0.0.1" && o.host != "localhost" && o.host != "::1" && o.api_key.empty())
    std::fprintf(stderr, "hearth serve: warning: listening beyond this machine without --api-key\n");
  if (!work) {
    server.run();
  } else {
    server.start();
    try {
      work(g_stop);
    } catch (...) {
      // The requests that failed have their error: let their responses go out before the server stops.
      std::this_thread::sleep_for(std::chrono::milliseconds(500));
      g_server = nullptr;
      server.stop();
      throw;
    }
    server.stop();
  }
  g_server = nullptr;
  std::fprintf(stderr, "hearth serve: stopped\n");
  return 0;
}

Runner add_serve(CLI::App& app) {
  auto o = std::make_shared<ServerOptions>();
  auto mo = std::make_shared<ModelOptions>();
  CLI::App* cmd = app.add_subcommand("serve", "serve models over OpenAI- and Ollama-compatible HTTP APIs");
  cmd->add_option("-m,--model", mo->model, "a GGUF model file, loaded at start");
  cmd->add_option("--alias", o->alias, "the model's name in requests (default: the file name without .gguf)");
  cmd->add_option("--models", o->models_dir,
                  "the model store directory (store names and loose *.gguf files, each loaded on first use; "
                  "default: $HEARTH_MODELS, the config file, ~/.local/share/hearth/models)");
  cmd->add_option("--host", o->host, "address to listen on (default 127.0.0.1: this machine only)");
  cmd->add_option("--port", o->port, "port to listen on (default 8080)")->check(CLI::Range(0, 65535));
  CLI::Option* key_flag = cmd->add_option(
      "--api-key", o->api_key,
      "require 'Authorization: Bearer KEY' (default: $HEARTH_API_KEY; a flag shows in ps, prefer --api-key-file)");
  auto key_file = std::make_shared<std::string>();
  cmd->add_option("--api-key-file", *key_file,
                  "read the API key from the first line of FILE, which only its owner may read (chmod 600)")
      ->excludes(key_flag);
  cmd->add_option("--allowed-hosts", o->allowed_hosts,
                  "Host names to answer beside IP addresses, localhost, --host and this machine's name "
                  "(comma list; '*': any, e.g. behind a reverse proxy); others get 403 (DNS rebinding)")
      ->delimiter(',');
  cmd->add_option("--allowed-origins", o->allowed_origins,
                  "web page origins (http://host:port) that may use the API from a browser, beside the server's own "
                  "(comma list; '*': any); requests from other pages get 403")
      ->delimiter(',');
  cmd->add_option("--max-client-connections", o->max_client_connections,
                  "connections one client address may hold at once, more get 429 (default: half of the HTTP "
                  "threads, loopback clients not limited)")
      ->check(CLI::Range(1, 1 << 20));
  cmd->add_option("--parallel", o->parallel, "requests generating at once per model (default 4)")
      ->check(CLI::Range(1, 256));
  cmd->add_option("-b,--batch-size", o->n_batch, "tokens per forward pass (default 512)")->check(CLI::Range(1, 1 << 16));
  auto keep_alive = std::make_shared<std::string>();
  cmd->add_option("--keep-alive", *keep_alive,
                  "how long a model stays loaded after its last request: 5m, 1h, 30s, 0 (unload at once), -1 or "
                  "forever (default: $HEARTH_KEEP_ALIVE, else 5m); requests may set keep_alive");
  cmd->add_option("--max-loaded", o->max_loaded,
                  "models loaded at once; the least recently used idle one is unloaded to make room "
                  "(default: 1 on CPU, 3 per GPU)")
      ->check(CLI::Range(1, 64));
  cmd->add_option("--max-queue", o->max_queue,
                  "requests that may wait for a model to load while --max-loaded models are all generating; more "
                  "get 503 (default 512)")
      ->check(CLI::Range(0, 1 << 20));
  cmd->add_flag("--allow-private-pull", o->allow_private_pull,
                "let /api/pull fetch from loopback, private and link-local addresses too (default: public internet "
                "addresses only, so that clients cannot make the server fetch from its own network)");
  auto max_pull = std::make_shared<std::string>();
  cmd->add_option("--max-pull-size", *max_pull,
                  "largest download /api/pull accepts, e.g. 100G (0: no limit; default 64G)");
  auto quiet = std::make_shared<bool>(false);
  cmd->add_flag("--no-access-log", *quiet, "no line on stderr per request (time, status, duration, client, path)");
  add_model_options(*cmd, *mo);
  auto pipe = add_pipeline_options(*cmd);
  return [o, mo, keep_alive, pipe, quiet, max_pull, key_file] {
    if (!max_pull->empty()) {
      try {
        o->max_pull_bytes = parse_size(*max_pull);
      } catch (const Error& e) {
        throw Error(std::string("--max-pull-size: ") + e.what());
      }
    }
    if (!*quiet)
      o->access_log = [](const std::string& line) { std::fprintf(stderr, "hearth serve: %s\n", line.c_str()); };
    // Model loads and unloads, with sizes and times: logged even without the access log.
    o->log = [](const std::string& line) { std::fprintf(stderr, "hearth serve: %s\n", line.c_str()); };
    if (!keep_alive->empty()) o->keep_alive = *keep_alive;
    else if (const char* k = std::getenv("HEARTH_KEEP_ALIVE"); k && *k) o->keep_alive = k;
    if (!key_file->empty()) o->api_key = read_api_key_file(*key_file);
    if (o->api_key.empty())
      if (const char* k = std::getenv("HEARTH_API_KEY")) o->api_key = k;
    if (pipe->enabled) return serve_pipeline(*o, *mo, *pipe);
    // The model store is always served (created when missing), so that store names work beside -m.
    const ModelsDir md = resolve_models_dir(o->models_dir);
    std::error_code ec;
    std::filesystem::create_directories(md.dir, ec);
    if (ec && mo->model.empty()) throw Error("cannot create the model store " + md.dir + ": " + ec.message());
    o->models_dir = ec ? "" : md.dir;
    if (ec) std::fprintf(stderr, "hearth serve: warning: no model store (%s: %s)\n", md.dir.c_str(), ec.message().c_str());
    else std::fprintf(stderr, "hearth serve: model store %s (from %s)\n", md.dir.c_str(), md.source.c_str());
    o->model_path = mo->model.empty() ? "" : resolve_model(mo->model, md.dir);
    // -m NAME from the store: requests call it NAME, not by its blob's file name.
    if (o->alias.empty() && o->model_path != mo->model && !is_remote_source(mo->model)) o->alias = mo->model;
    o->load = load_params(*mo);
    o->n_ctx = mo->n_ctx;
    Server server(*o);
    return serve_until_signal(server, *o);
  };
}

}  // namespace hearth::cli

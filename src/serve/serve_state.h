// What the route handlers of both APIs share.
#pragma once
#include <atomic>

#include "hearth/server.h"
#include "serve/generation_job.h"
#include "serve/model_registry.h"

namespace httplib {
class Server;
}

namespace hearth::serve {

struct ServeState {
  ServerOptions options;
  Totals totals;         // before models: schedulers report to it while they shut down
  ModelRegistry models;
  std::atomic<bool> stopping{false};
  std::atomic<uint64_t> next_id{1};  // response ids

  explicit ServeState(const ServerOptions& o) : options(o), models(o) {}
};

void add_openai_routes(httplib::Server& http, ServeState& state);
void add_ollama_routes(httplib::Server& http, ServeState& state);
// /api/pull, /api/create, /api/copy, /api/delete over the model store (store_api.cpp).
void add_store_routes(httplib::Server& http, ServeState& state);

}  // namespace hearth::serve

// Embedding routes: POST /v1/embeddings (OpenAI), POST /api/embed and /api/embeddings (Ollama).
#pragma once

namespace httplib {
class Server;
}

namespace hearth::serve {

struct ServeState;

// Registered before the other API routes: httplib answers a path with the first handler that matches.
void add_embedding_routes(httplib::Server& http, ServeState& state);

}  // namespace hearth::serve

// Helpers for the serve tests: the real server on an ephemeral loopback port with the stories260K
// fixture, an HTTP client for it, the greedy text generate() gives, and stream parsing.
#pragma once
#include <httplib.h>

#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "hearth/generate.h"
#include "hearth/model.h"
#include "hearth/server.h"
#include "test_util.h"

namespace hearth::test {

using json = nlohmann::json;

inline std::string stories_path() { return fixture("stories260K/stories260K.gguf"); }

inline ServerOptions stories_options(int parallel = 4, int n_ctx = 256) {
  ServerOptions o;
  o.port = 0;
  o.model_path = stories_path();
  o.alias = "stories";
  o.parallel = parallel;
  o.n_ctx = n_ctx;
  o.n_batch = 64;
  o.load.n_threads = 1;
  o.load.n_gpu_layers = 0;
  return o;
}

struct RunningServer {
  std::unique_ptr<Server> server;
  int port = 0;
  explicit RunningServer(const ServerOptions& o) : server(std::make_unique<Server>(o)) {
    server->start();
    port = server->port();
  }
  ~RunningServer() { server.reset(); }
  httplib::Client client() const {
    httplib::Client c("127.0.0.1", port);
    c.set_read_timeout(120);
    return c;
  }
};

// What generate() gives greedily for a prompt tokenized as the completion endpoints do.
inline std::string greedy_text(Model& model, const std::string& prompt, int n, int n_ctx = 256) {
  SessionParams sp;
  sp.n_ctx = n_ctx;
  Session s(model, sp);
  GenerateParams g;
  g.n_predict = n;
  g.sampling.temperature = 0;
  std::string out;
  generate(s, model.tokenize(prompt, true, true), g, [&](const std::string& t) {
    out += t;
    return true;
  });
  return out;
}

inline std::unique_ptr<Model> load_stories_model() {
  LoadParams lp;
  lp.n_threads = 1;
  lp.n_gpu_layers = 0;
  return Model::load(stories_path(), lp);
}

// A suite whose tests share one running server (stories260K, `parallel` sequences) and the model as their
// reference: `class ServeX : public SharedStoriesServer<ServeX> {};` (each suite gets its own server).
template <class Suite, int parallel = 4>
class SharedStoriesServer : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!std::filesystem::exists(stories_path())) return;
    model_ = load_stories_model().release();
    server_ = new RunningServer(stories_options(parallel));
  }
  static void TearDownTestSuite() {
    delete server_;
    delete model_;
    server_ = nullptr;
    model_ = nullptr;
  }
  void SetUp() override { HEARTH_REQUIRE_FIXTURE(stories_path()); }
  static inline Model* model_ = nullptr;
  static inline RunningServer* server_ = nullptr;
};

// The JSON payloads of an SSE body ("data: {...}" events), without the final [DONE]; done tells if it came.
inline std::vector<json> parse_sse(const std::string& body, bool* done = nullptr) {
  std::vector<json> out;
  if (done) *done = false;
  size_t pos = 0;
  while (pos < body.size()) {
    size_t end = body.find("\n\n", pos);
    if (end == std::string::npos) end = body.size();
    std::string ev = body.substr(pos, end - pos);
    pos = end + 2;
    if (ev.rfind("data: ", 0) != 0) continue;
    std::string data = ev.substr(6);
    if (data == "[DONE]") {
      if (done) *done = true;
      continue;
    }
    out.push_back(json::parse(data));
  }
  return out;
}

// The objects of an NDJSON body, one per line.
inline std::vector<json> parse_ndjson(const std::string& body) {
  std::vector<json> out;
  std::istringstream in(body);
  for (std::string line; std::getline(in, line);)
    if (!line.empty()) out.push_back(json::parse(line));
  return out;
}

inline httplib::Result post_json(httplib::Client& c, const std::string& path, const json& body) {
  return c.Post(path.c_str(), body.dump(), "application/json");
}

}  // namespace hearth::test

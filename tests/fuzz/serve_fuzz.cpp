// libFuzzer target: HTTP request bodies for every endpoint of `hearth serve`, sent to a real Server on a
// loopback port inside this process (so a crash, a sanitizer report or an exception escaping a server thread
// is caught here). Each input is "METHOD /path\nBODY" (the first line picks the route; a line that is not of
// that form picks one of the known routes by its length) and the rest is sent as the JSON body. The server
// serves a fresh temporary store holding stories260K (when the fixture is there: generation, embeddings and
// the store endpoints then reach the model; without it they stop at the model lookup).
// Any 5xx other than 501/503/507 aborts the run (the rule: bad input is a clean 4xx) unless
// HEARTH_FUZZ_ALLOW_500=1. /api/pull never reaches the network: every string in its body that could name a
// source is replaced with a refused loopback URL before it is sent.
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>

#include <httplib.h>
#include <nlohmann/json.hpp>

#include "hearth/server.h"

namespace {

namespace fs = std::filesystem;

struct Route {
  const char* method;
  const char* path;
};

// Every route the server has (and one it does not), for inputs whose first line names none.
constexpr Route kRoutes[] = {
    {"POST", "/v1/chat/completions"}, {"POST", "/v1/completions"}, {"POST", "/v1/embeddings"},
    {"GET", "/v1/models"},            {"POST", "/api/generate"},   {"POST", "/api/chat"},
    {"POST", "/api/embed"},           {"POST", "/api/embeddings"}, {"POST", "/api/show"},
    {"GET", "/api/tags"},             {"GET", "/api/ps"},          {"GET", "/api/version"},
    {"POST", "/api/pull"},            {"POST", "/api/create"},     {"POST", "/api/copy"},
    {"DELETE", "/api/delete"},        {"POST", "/api/delete"},     {"POST", "/api/push"},
    {"GET", "/health"},               {"GET", "/metrics"},         {"GET", "/v1/models/stories260K"},
    {"POST", "/no/such/route"},
};
constexpr size_t kNumRoutes = sizeof kRoutes / sizeof kRoutes[0];

// Where a pull may "download" from: a port nothing listens on (connection refused at once).
constexpr const char* kRefusedUrl = "http://127.0.0.1:9/model.gguf";

struct Fixture {
  std::string dir;                      // the server's model store (removed at exit)
  std::unique_ptr<hearth::Server> server;
  std::unique_ptr<httplib::Client> client;
  bool allow_500 = false;
};

Fixture* g_fixture = nullptr;

void shut_down() {
  if (!g_fixture) return;
  g_fixture->client.reset();
  if (g_fixture->server) g_fixture->server->stop();
  g_fixture->server.reset();
  std::error_code ec;
  fs::remove_all(g_fixture->dir, ec);
}

// A pull body with every source-like string pointing at the refused URL; the other fields (and values of the
// wrong type) stay as the fuzzer wrote them.
std::string defuse_pull(const std::string& body) {
  nlohmann::json j = nlohmann::json::parse(body, nullptr, false);
  if (!j.is_object()) return body;
  // The source is "model", or Ollama's older "name" (serve/store_api.cpp).
  for (const char* key : {"model", "name"}) {
    auto it = j.find(key);
    if (it != j.end() && it->is_string()) *it = kRefusedUrl;
  }
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

// "GET /path" or "POST /path" etc. as the first line: that route, with the path cut at the first byte that
// could not be in a request line.
bool parse_request_line(std::string_view line, std::string& method, std::string& path) {
  for (const char* m : {"GET", "POST", "DELETE", "PUT", "OPTIONS", "HEAD"}) {
    const size_t n = std::strlen(m);
    if (line.size() > n + 1 && line.substr(0, n) == m && line[n] == ' ' && line[n + 1] == '/') {
      method = m;
      path.clear();
      for (char c : line.substr(n + 1)) {
        if (c <= ' ' || c >= 127 || c == '#') break;
        path += c;
        if (path.size() >= 512) break;
      }
      return true;
    }
  }
  return false;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  auto* f = new Fixture;
  g_fixture = f;
  const char* a500 = getenv("HEARTH_FUZZ_ALLOW_500");
  f->allow_500 = a500 && *a500 && std::string(a500) != "0";
  std::string tmpl = (fs::temp_directory_path() / "hearth-serve-fuzz-XXXXXX").string();
  if (!mkdtemp(tmpl.data())) {
    perror("mkdtemp");
    abort();
  }
  f->dir = tmpl;
  const fs::path stories = fs::path(HEARTH_FIXTURES) / "stories260K" / "stories260K.gguf";
  if (fs::exists(stories)) {
    fs::create_symlink(fs::absolute(stories), fs::path(f->dir) / "stories260K.gguf");
    fprintf(stderr, "serve_fuzz: serving %s as stories260K\n", stories.c_str());
  } else {
    fprintf(stderr, "serve_fuzz: %s not found: no model (requests stop at the model lookup)\n", stories.c_str());
  }
  hearth::ServerOptions o;
  o.port = 0;
  o.models_dir = f->dir;
  o.parallel = 2;
  o.n_ctx = 128;  // bounds every generation: a prompt plus max_tokens over it is a 400
  o.n_batch = 64;
  o.load.n_threads = 1;
  o.load.n_gpu_layers = 0;
  o.http_threads = 8;
  o.max_body_bytes = 1 << 20;
  o.keep_alive = "-1";  // stay loaded: a reload per input would measure the loader, not the handlers
  f->server = std::make_unique<hearth::Server>(o);
  f->server->start();
  // The server writes a response's header and body separately: with Nagle's algorithm the body then waits for
  // the client's delayed ACK (tens of ms a request). Connections accepted on a TCP_NODELAY listening socket
  // inherit it (Linux), so set it on the listening socket this process holds.
  for (int fd = 3; fd < 1024; ++fd) {
    int listening = 0;
    socklen_t len = sizeof listening;
    if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) == 0 && listening) {
      int yes = 1;
      setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &yes, sizeof yes);
    }
  }
  f->client = std::make_unique<httplib::Client>("127.0.0.1", f->server->port());
  f->client->set_keep_alive(true);
  f->client->set_tcp_nodelay(true);  // no Nagle wait between the header and body writes of each request
  f->client->set_read_timeout(60);
  f->client->set_connection_timeout(5);
  atexit(shut_down);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Fixture& f = *g_fixture;
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  const size_t nl = in.find('\n');
  const std::string_view first = nl == std::string_view::npos ? std::string_view{} : in.substr(0, nl);
  std::string body(nl == std::string_view::npos ? in : in.substr(nl + 1));
  std::string method, path;
  if (!parse_request_line(first, method, path)) {
    const Route& r = kRoutes[first.size() % kNumRoutes];
    method = r.method;
    path = r.path;
  }
  if (path.rfind("/api/pull", 0) == 0) body = defuse_pull(body);

  // Content type as curl -d sends it on one route in four: a body is JSON whatever it is labelled.
  const char* type = (size & 3) == 3 ? "application/x-www-form-urlencoded" : "application/json";
  httplib::Result res{nullptr, httplib::Error::Unknown};
  for (int attempt = 0; attempt < 2; ++attempt) {
    if (method == "GET") res = f.client->Get(path);
    else if (method == "POST") res = f.client->Post(path, body, type);
    else if (method == "DELETE") res = f.client->Delete(path, body, type);
    else if (method == "PUT") res = f.client->Put(path, body, type);
    else if (method == "OPTIONS") res = f.client->Options(path);
    else res = f.client->Head(path);
    if (res) break;
  }
  if (!res) {
    // The server stopped answering: a hung or dead HTTP thread pool is a bug too.
    fprintf(stderr, "serve_fuzz: no response to %s %s: %s\n", method.c_str(), path.c_str(),
            httplib::to_string(res.error()).c_str());
    abort();
  }
  const int status = res->status;
  if (status >= 500 && status != 501 && status != 503 && status != 507 && !f.allow_500) {
    fprintf(stderr, "serve_fuzz: %s %s answered %d: %.2000s\n", method.c_str(), path.c_str(), status,
            res->body.c_str());
    abort();
  }
  return 0;
}

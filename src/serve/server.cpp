// The HTTP server: both APIs on one cpp-httplib server, API-key check and body limit before routing,
// JSON errors for everything httplib itself rejects (404, 413, ...).
#include "hearth/server.h"

#include <sys/socket.h>

#include <csignal>
#include <thread>

#include "hearth/error.h"

#ifdef HEARTH_HAVE_HTTP
#include <httplib.h>

#include "serve/access_log.h"
#include "serve/metrics.h"
#include "serve/embeddings_api.h"
#include "serve/handler.h"
#include "serve/serve_state.h"
#include "serve/web_page.h"
#endif

namespace hearth {

#ifdef HEARTH_HAVE_HTTP
using namespace serve;

using Clock = std::chrono::steady_clock;
// When the request the current HTTP thread serves was routed (for the access log's durations).
thread_local Clock::time_point t_request_start{};

struct Server::Impl {
  ServeState state;
  httplib::Server http;
  std::thread thread;
  int port = -1;
  int listen_fd = -1;  // the listening socket, as httplib opened it

  explicit Impl(const ServerOptions& o) : state(o) {}
};

namespace {

// Constant-time comparison: the key is a secret.
bool same_key(const std::string& a, const std::string& b) {
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  for (size_t i = 0; i < a.size(); ++i) diff |= static_cast<unsigned char>(a[i] ^ b[i % (b.empty() ? 1 : b.size())]);
  return diff == 0 && !b.empty();
}

}  // namespace

Server::Server(const ServerOptions& options) : impl_(std::make_unique<Impl>(options)) {
  // A client that goes away must not kill the server on the next write.
  std::signal(SIGPIPE, SIG_IGN);
  httplib::Server& http = impl_->http;
  ServeState& state = impl_->state;
  const size_t threads = static_cast<size_t>(std::max(options.http_threads, options.parallel * 2 + 4));
  http.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  http.set_payload_max_length(options.max_body_bytes);
  // httplib's default sets SO_REUSEPORT, which lets a second server bind the same port and take half the
  // connections: SO_REUSEADDR only, so that a port in use is an error. httplib listens with a backlog of 5 (a
  // burst of clients connecting at once loses connections): keep the socket so that bind() can listen again
  // with the system's maximum.
  http.set_socket_options([impl = impl_.get()](socket_t sock) {
    int yes = 1;
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
    impl->listen_fd = sock;
  });
  if (state.options.access_log) {
    http.set_logger([&state](const httplib::Request& req, const httplib::Response& res) {
      const double seconds =
          t_request_start == Clock::time_point{} ? -1.0 : std::chrono::duration<double>(Clock::now() - t_request_start).count();
      t_request_start = {};
      state.options.access_log(
          serve::access_log_line(std::chrono::system_clock::now(), res.status, seconds, req.remote_addr, req.method, req.path));
    });
  }
  http.set_pre_routing_handler([&state](const httplib::Request& req, httplib::Response& res) {
    t_request_start = Clock::now();
    if (state.options.api_key.empty() || is_public_path(req.method, req.path))
      return httplib::Server::HandlerResponse::Unhandled;
    const std::string auth = req.get_header_value("Authorization");
    const std::string prefix = "Bearer ";
    const std::string key = auth.rfind(prefix, 0) == 0 ? auth.substr(prefix.size()) : "";
    if (same_key(key, state.options.api_key)) return httplib::Server::HandlerResponse::Unhandled;
    send_error(res, style_of(req.path), 401,
               auth.empty() ? "missing API key: send the header 'Authorization: Bearer KEY'" : "invalid API key",
               "authentication_error", "invalid_api_key");
    return httplib::Server::HandlerResponse::Handled;
  });
  http.set_error_handler(httplib::Server::HandlerWithResponse([&state](const httplib::Request& req,
                                                                       httplib::Response& res) {
    if (!res.body.empty()) return httplib::Server::HandlerResponse::Unhandled;  // a handler's own error
    std::string msg;
    switch (res.status) {
      case 404: msg = "no route for " + req.method + " " + req.path; break;
      case 413:
        msg = "request body larger than the limit of " + std::to_string(state.options.max_body_bytes) + " bytes";
        break;
      case 400: msg = "bad request"; break;
      default: msg = "HTTP error " + std::to_string(res.status); break;
    }
    send_error(res, style_of(req.path), res.status, msg);
    return httplib::Server::HandlerResponse::Handled;
  }));
  http.set_exception_handler([](const httplib::Request& req, httplib::Response& res, std::exception_ptr) {
    send_error(res, style_of(req.path), 500, "internal error");
  });
  http.Get("/health", [](const httplib::Request&, httplib::Response& res) { send_json(res, {{"status", "ok"}}); });
  add_web_routes(http);
  add_embedding_routes(http, state);
  add_openai_routes(http, state);
  add_ollama_routes(http, state);
  add_store_routes(http, state);
  add_metrics_route(http, state);
}

Server::~Server() {
  stop();
  if (impl_->thread.joinable()) impl_->thread.join();
}

int Server::bind() {
  if (impl_->port >= 0) return impl_->port;
  const ServerOptions& o = impl_->state.options;
  if (o.port < 0 || o.port > 65535) throw Error("invalid port " + std::to_string(o.port));
  int port = o.port;
  if (port == 0) {
    port = impl_->http.bind_to_any_port(o.host);
    if (port <= 0) throw Error("cannot bind " + o.host + " (any port)");
  } else if (!impl_->http.bind_to_port(o.host, port)) {
    throw Error("cannot bind " + o.host + ":" + std::to_string(port) + " (in use, or not an address of this machine)");
  }
  if (impl_->listen_fd >= 0) ::listen(impl_->listen_fd, SOMAXCONN);
  impl_->port = port;
  return port;
}

void Server::run() {
  bind();
  impl_->http.listen_after_bind();
}

void Server::start() {
  bind();
  impl_->thread = std::thread([this] { impl_->http.listen_after_bind(); });
  // listen_after_bind() accepts connections queued on the bound socket, so clients may connect already.
}

void Server::stop() {
  impl_->state.stopping = true;
  impl_->http.stop();
}

int Server::port() const { return impl_->port; }

ServerCounters Server::counters() const {
  const Totals& t = impl_->state.totals;
  ServerCounters c;
  c.requests = t.requests;
  c.finished = t.finished;
  c.cancelled = t.cancelled;
  c.tokens_generated = t.tokens_generated;
  c.active = t.active;
  return c;
}

#else  // no cpp-httplib

struct Server::Impl {};
Server::Server(const ServerOptions&) { throw Error("hearth was built without HTTP support (cpp-httplib)"); }
Server::~Server() = default;
int Server::bind() { return -1; }
void Server::run() {}
void Server::start() {}
void Server::stop() {}
int Server::port() const { return -1; }
ServerCounters Server::counters() const { return {}; }

#endif

}  // namespace hearth

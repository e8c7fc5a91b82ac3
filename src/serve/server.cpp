// The HTTP server: both APIs on one cpp-httplib server; before routing the Host and Origin checks (with CORS),
// the API key and the body limit; JSON errors for everything httplib itself rejects (404, 413, ...).
#include "hearth/server.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <csignal>
#include <thread>

#include "hearth/error.h"

#ifdef HEARTH_HAVE_HTTP
#include <httplib.h>

#include "serve/access_log.h"
#include "serve/api_key.h"
#include "serve/elastic_thread_pool.h"
#include "serve/guarded_http_server.h"
#include "serve/http_policy.h"
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

namespace {

size_t http_threads(const ServerOptions& o) {
  return static_cast<size_t>(std::max(o.http_threads, o.parallel * 2 + 4));
}

GuardedHttpServer::Limits http_limits(const ServerOptions& o) {
  if (o.header_timeout_ms <= 0 || o.body_timeout_ms <= 0) throw Error("the request timeouts must be positive");
  if (o.max_client_connections < 0) throw Error("max_client_connections must not be negative");
  GuardedHttpServer::Limits l;
  l.header_timeout = std::chrono::milliseconds(o.header_timeout_ms);
  l.body_timeout = std::chrono::milliseconds(o.body_timeout_ms);
  // By default one client may hold half of the threads; loopback clients (a local reverse proxy, benchmarks)
  // are not counted unless a limit is set.
  l.max_client_connections =
      o.max_client_connections > 0 ? o.max_client_connections : std::max<int>(1, static_cast<int>(http_threads(o) / 2));
  l.limit_loopback = o.max_client_connections > 0;
  return l;
}

// A refusal sent before the body was read: the connection closes after it.
httplib::Server::HandlerResponse refuse(const httplib::Request& req, httplib::Response& res, int status,
                                        const std::string& message, const std::string& type = "",
                                        const std::string& code = "") {
  send_error(res, style_of(req.path), status, message, type, code);
  res.set_header("Connection", "close");
  GuardedHttpServer::close_after_response();
  return httplib::Server::HandlerResponse::Handled;
}

// The headers an allowed page may send: the key and the body type, and whatever else its preflight asks for
// (SDKs add their own, e.g. the OpenAI SDK's x-stainless-*), header-name characters only.
std::string cors_allowed_headers(const httplib::Request& req) {
  std::string asked = req.get_header_value("Access-Control-Request-Headers");
  auto odd = [](char c) {
    return !(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == ',' || c == ' ');
  };
  asked.erase(std::remove_if(asked.begin(), asked.end(), odd), asked.end());
  return asked.empty() ? "Authorization, Content-Type" : "Authorization, Content-Type, " + asked.substr(0, 1024);
}

}  // namespace

struct Server::Impl {
  ServeState state;
  GuardedHttpServer http;
  HttpPolicy policy;
  std::thread thread;
  int port = -1;
  int listen_fd = -1;  // the listening socket, as httplib opened it

  explicit Impl(const ServerOptions& o)
      : state(o), http(http_limits(o)), policy(make_http_policy(o.host, o.allowed_hosts, o.allowed_origins)) {}
};

Server::Server(const ServerOptions& options) : impl_(std::make_unique<Impl>(options)) {
  // A client that goes away must not kill the server on the next write.
  std::signal(SIGPIPE, SIG_IGN);
  httplib::Server& http = impl_->http;
  ServeState& state = impl_->state;
  const size_t threads = http_threads(options);
  // Slow clients must not queue the others: more threads while they are all taken (their deadlines end them).
  http.new_task_queue = [threads] { return new ElasticThreadPool(threads, threads * 4); };
  http.set_payload_max_length(options.max_body_bytes);
  // httplib's default sets SO_REUSEPORT, which lets a second server bind the same port and take half the
  // connections: SO_REUSEADDR only, so that a port in use is an error. httplib listens with a backlog of 5 (a
  // burst of clients connecting at once loses connections): keep the socket so that bind() can listen again
  // with the system's maximum. TCP_NODELAY (inherited by accepted sockets): httplib writes a response's head and
  // body, and each SSE chunk, separately, and Nagle's algorithm held each second write ~25 ms behind the first.
  http.set_socket_options([impl = impl_.get()](socket_t sock) {
    int yes = 1;
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
    setsockopt(sock, IPPROTO_TCP, TCP_NODELAY, &yes, sizeof yes);
    impl->listen_fd = sock;
  });
  if (state.options.access_log) {
    // The path only: a query string (the web page's ?api_key=...) never reaches the log.
    http.set_logger([&state](const httplib::Request& req, const httplib::Response& res) {
      const double seconds =
          t_request_start == Clock::time_point{} ? -1.0 : std::chrono::duration<double>(Clock::now() - t_request_start).count();
      t_request_start = {};
      state.options.access_log(
          serve::access_log_line(std::chrono::system_clock::now(), res.status, seconds, req.remote_addr, req.method, req.path));
    });
  }
  http.set_pre_routing_handler([&state, impl = impl_.get()](const httplib::Request& req, httplib::Response& res) {
    t_request_start = Clock::now();
    // DNS rebinding: a page of a foreign name that resolves to this machine sends that name as Host.
    const std::string host = req.get_header_value("Host");
    if (!host_allowed(impl->policy, host))
      return refuse(req, res, 403,
                    "Host '" + host_name_of(host) + "' is not allowed: use this server's address or start it with "
                    "--allowed-hosts " + host_name_of(host) + " (or '*' behind a reverse proxy)",
                    "permission_error", "host_not_allowed");
    // Cross-site requests: a browser says which page sent them. Requests without an Origin (curl, SDKs) are
    // not from a page.
    if (req.has_header("Origin")) {
      const std::string origin = req.get_header_value("Origin");
      if (!origin_allowed(impl->policy, origin, host, impl->port))
        return refuse(req, res, 403,
                      "Origin '" + origin + "' is not allowed: start hearth serve with --allowed-origins " + origin +
                      " to let its pages use this server",
                      "permission_error", "origin_not_allowed");
      res.set_header("Access-Control-Allow-Origin", origin);
      res.set_header("Vary", "Origin");
      if (req.method == "OPTIONS" && req.has_header("Access-Control-Request-Method")) {  // a CORS preflight
        res.status = 204;
        res.set_header("Access-Control-Allow-Methods", "GET, HEAD, POST, DELETE, OPTIONS");
        res.set_header("Access-Control-Allow-Headers", cors_allowed_headers(req));
        res.set_header("Access-Control-Max-Age", "600");
        // Chrome asks before a public page may reach a private address (Private Network Access).
        if (req.has_header("Access-Control-Request-Private-Network"))
          res.set_header("Access-Control-Allow-Private-Network", "true");
        return httplib::Server::HandlerResponse::Handled;
      }
    }
    if (state.options.api_key.empty() || is_public_path(req.method, req.path))
      return httplib::Server::HandlerResponse::Unhandled;
    const std::string auth = req.get_header_value("Authorization");
    if (same_key(bearer_token(auth), state.options.api_key)) return httplib::Server::HandlerResponse::Unhandled;
    return refuse(req, res, 401,
                  auth.empty() ? "missing API key: send the header 'Authorization: Bearer KEY'" : "invalid API key",
                  "authentication_error", "invalid_api_key");
  });
  http.set_error_handler(httplib::Server::HandlerWithResponse([&state](const httplib::Request& req,
                                                                       httplib::Response& res) {
    if (!res.body.empty()) return httplib::Server::HandlerResponse::Unhandled;  // a handler's own error
    std::string msg;
    if (res.status == 400 && GuardedHttpServer::request_timed_out(&msg)) {
      send_error(res, style_of(req.path), 408, msg);
      res.set_header("Connection", "close");
      return httplib::Server::HandlerResponse::Handled;
    }
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
  // listen_after_bind() accepts connections queued on the bound socket, so clients may connect already. But
  // httplib's stop() does nothing until its loop has started: wait for it, so that a stop() (or the destructor)
  // right after start() is not lost and the join does not wait for ever.
  for (int i = 0; i < 5000 && !impl_->http.is_running(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(1));
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

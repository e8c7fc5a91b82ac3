// hearth ps / hearth stop: the models a running server has loaded, and unloading one (as `ollama ps` and
// `ollama stop`). Both talk to the server over HTTP: --host/--port, else $HEARTH_HOST ("127.0.0.1:8080" or a URL).
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <memory>
#include <string>

#include "commands.h"
#include "hearth/error.h"

#ifdef HEARTH_HAVE_HTTP
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstring>
#include <httplib.h>

#include <nlohmann/json.hpp>
#endif

namespace hearth::cli {
namespace {

struct ClientOptions {
  std::string host;  // empty: $HEARTH_HOST, else 127.0.0.1
  int port = 0;      // 0: from host, else 8080
  std::string api_key;
};

void add_client_options(CLI::App& cmd, ClientOptions& o) {
  cmd.add_option("--host", o.host, "the server: HOST, HOST:PORT or http://HOST:PORT (default: $HEARTH_HOST, else "
                                   "127.0.0.1:8080)");
  cmd.add_option("--port", o.port, "the server's port (default 8080)")->check(CLI::Range(1, 65535));
  cmd.add_option("--api-key", o.api_key, "the server's API key (default: $HEARTH_API_KEY)");
}

#ifdef HEARTH_HAVE_HTTP
using json = nlohmann::json;

struct Endpoint {
  std::string scheme = "http", host = "127.0.0.1";
  int port = 8080;
  std::string api_key;
  std::string url() const { return scheme + "://" + host + ":" + std::to_string(port); }
};

Endpoint endpoint_of(const ClientOptions& o) {
  Endpoint e;
  std::string h = o.host;
  if (h.empty())
    if (const char* env = std::getenv("HEARTH_HOST")) h = env;
  if (h.rfind("https://", 0) == 0) e.scheme = "https", h = h.substr(8);
  else if (h.rfind("http://", 0) == 0) h = h.substr(7);
  if (!h.empty() && h.back() == '/') h.pop_back();
  const size_t colon = h.rfind(':');
  if (colon != std::string::npos && h.find(']') == std::string::npos) {
    try {
      e.port = std::stoi(h.substr(colon + 1));
    } catch (const std::exception&) {
      throw Error("invalid server address '" + h + "' (expected HOST:PORT)");
    }
    h.resize(colon);
  }
  if (!h.empty()) e.host = h;
  if (o.port > 0) e.port = o.port;
  e.api_key = o.api_key;
  if (e.api_key.empty())
    if (const char* k = std::getenv("HEARTH_API_KEY")) e.api_key = k;
  return e;
}

// Why nothing answers at e, in the system's words ("connection refused"): httplib only says "Connection", so one
// more connect (non-blocking, at most 3 s) asks.
std::string connect_failure(const Endpoint& e) {
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  const int gai = getaddrinfo(e.host.c_str(), std::to_string(e.port).c_str(), &hints, &res);
  if (gai != 0) return std::string("cannot resolve ") + e.host + ": " + gai_strerror(gai);
  std::string why = "no answer";
  for (addrinfo* a = res; a; a = a->ai_next) {
    const int fd = socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, a->ai_protocol);
    if (fd < 0) continue;
    int err = 0;
    if (connect(fd, a->ai_addr, a->ai_addrlen) != 0) {
      err = errno;
      if (err == EINPROGRESS) {
        pollfd p{fd, POLLOUT, 0};
        if (poll(&p, 1, 3000) == 1) {
          socklen_t len = sizeof err;
          getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
        } else {
          err = ETIMEDOUT;
        }
      }
    }
    close(fd);
    if (err == 0) {
      why = "it accepts connections but sends no HTTP answer";
      break;
    }
    why = std::strerror(err);
  }
  freeaddrinfo(res);
  if (!why.empty()) why[0] = static_cast<char>(std::tolower(static_cast<unsigned char>(why[0])));
  return why;
}

// The JSON answer of method path; throws with the server's error message, or a clear one when none answers.
json call(const Endpoint& e, const std::string& method, const std::string& path, const json& body = nullptr) {
  httplib::Client c(e.url());
  c.set_connection_timeout(5);
  c.set_read_timeout(300);
  httplib::Headers headers;
  if (!e.api_key.empty()) headers.emplace("Authorization", "Bearer " + e.api_key);
  auto r = method == "GET" ? c.Get(path, headers) : c.Post(path, headers, body.dump(), "application/json");
  if (!r) {
    const std::string why =
        r.error() == httplib::Error::Connection ? connect_failure(e) : httplib::to_string(r.error());
    throw Error("no hearth server answers at " + e.url() + ": " + why +
                " \u2014 is `hearth serve` running? (start it with `hearth serve`, or give its address with "
                "--host/--port or HEARTH_HOST)");
  }
  json j = json::parse(r->body, nullptr, false);
  if (r->status != 200) {
    std::string msg = r->body;
    if (j.is_object() && j.contains("error"))
      msg = j["error"].is_string() ? j["error"].get<std::string>() : j["error"].value("message", r->body);
    throw Error(e.url() + path + ": HTTP " + std::to_string(r->status) + ": " + msg);
  }
  if (j.is_discarded()) throw Error(e.url() + path + ": the answer is not JSON");
  return j;
}

std::string human_size(uint64_t b) {
  char buf[32];
  const double d = static_cast<double>(b);
  if (d >= 1e9) std::snprintf(buf, sizeof buf, "%.1f GB", d / 1e9);
  else if (d >= 1e6) std::snprintf(buf, sizeof buf, "%.0f MB", d / 1e6);
  else std::snprintf(buf, sizeof buf, "%.0f KB", d / 1e3);
  return buf;
}

// expires_at (RFC 3339, UTC) as `ollama ps` shows it: "4 minutes from now", "Forever", "Stopping...".
std::string until_text(const std::string& rfc3339, int active) {
  std::tm tm{};
  if (std::sscanf(rfc3339.c_str(), "%d-%d-%dT%d:%d:%d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
                  &tm.tm_min, &tm.tm_sec) != 6)
    return rfc3339;
  if (tm.tm_year >= 2300) return "Forever";
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  const long long left = static_cast<long long>(timegm(&tm)) - static_cast<long long>(std::time(nullptr));
  if (left <= 0) return active > 0 ? "when its requests end" : "Stopping...";
  auto unit = [](long long n, const char* one) { return std::to_string(n) + " " + one + (n == 1 ? "" : "s"); };
  if (left < 60) return unit(left, "second") + " from now";
  if (left < 3600) return unit(left / 60, "minute") + " from now";
  if (left < 86400) return unit(left / 3600, "hour") + " from now";
  return unit(left / 86400, "day") + " from now";
}

int run_ps(const ClientOptions& o) {
  const json ps = call(endpoint_of(o), "GET", "/api/ps");
  std::printf("%-28s %-14s %-10s %-18s %s\n", "NAME", "ID", "SIZE", "PROCESSOR", "UNTIL");
  for (const json& m : ps.value("models", json::array())) {
    const std::string digest = m.value("digest", "");
    std::printf("%-28s %-14s %-10s %-18s %s\n", m.value("name", "").c_str(), digest.substr(0, 12).c_str(),
                human_size(m.value("size", uint64_t{0})).c_str(), m.value("processor", "").c_str(),
                until_text(m.value("expires_at", ""), m.value("active_requests", 0)).c_str());
  }
  return 0;
}

int run_stop(const ClientOptions& o, const std::string& name) {
  const Endpoint e = endpoint_of(o);
  const json ps = call(e, "GET", "/api/ps");
  std::string found;
  auto strip = [](std::string n) { return n.size() > 7 && n.ends_with(":latest") ? n.substr(0, n.size() - 7) : n; };
  for (const json& m : ps.value("models", json::array()))
    if (strip(m.value("name", "")) == strip(name)) found = m.value("name", "");
  if (found.empty()) throw Error("model '" + name + "' is not loaded on " + e.url() + " (see `hearth ps`)");
  // Ollama's unload request: no prompt, keep_alive 0. A model that is generating goes when its requests end.
  call(e, "POST", "/api/generate", {{"model", found}, {"keep_alive", 0}});
  return 0;
}
#else
int run_ps(const ClientOptions&) { throw Error("hearth was built without HTTP support (cpp-httplib)"); }
int run_stop(const ClientOptions&, const std::string&) {
  throw Error("hearth was built without HTTP support (cpp-httplib)");
}
#endif

}  // namespace

Runner add_ps(CLI::App& app) {
  auto o = std::make_shared<ClientOptions>();
  CLI::App* cmd = app.add_subcommand("ps", "list the models a running hearth server has loaded");
  add_client_options(*cmd, *o);
  return [o] { return run_ps(*o); };
}

Runner add_stop(CLI::App& app) {
  auto o = std::make_shared<ClientOptions>();
  auto name = std::make_shared<std::string>();
  CLI::App* cmd = app.add_subcommand("stop", "unload a model from a running hearth server");
  cmd->add_option("name", *name, "the model's name (as `hearth ps` shows it)")->required();
  add_client_options(*cmd, *o);
  return [o, name] { return run_stop(*o, *name); };
}

}  // namespace hearth::cli

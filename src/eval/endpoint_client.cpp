// OpenAI-API endpoint target over cpp-httplib: a streamed POST per request, timed as the bytes arrive.
#include "eval/endpoint_client.h"

#include <cstdio>
#include <nlohmann/json.hpp>

#include "eval/sse_stream.h"
#include "hearth/error.h"

#ifdef HEARTH_HAVE_HTTP
#include <httplib.h>
#endif

namespace hearth::eval {

#ifdef HEARTH_HAVE_HTTP
namespace {

struct SplitUrl {
  std::string origin;  // scheme://host[:port]
  std::string prefix;  // path before /v1 ("" or "/something")
  std::string host;    // host[:port]
};

SplitUrl split(const std::string& url) {
  const size_t scheme = url.find("://");
  if (scheme == std::string::npos || (url.compare(0, scheme, "http") != 0 && url.compare(0, scheme, "https") != 0))
    throw Error("invalid endpoint URL '" + url + "' (expected http://HOST:PORT)");
  const size_t slash = url.find('/', scheme + 3);
  SplitUrl s;
  s.origin = url.substr(0, slash);
  s.host = s.origin.substr(scheme + 3);
  if (s.host.empty()) throw Error("invalid endpoint URL '" + url + "' (no host)");
  s.prefix = slash == std::string::npos ? "" : url.substr(slash);
  while (!s.prefix.empty() && s.prefix.back() == '/') s.prefix.pop_back();
  if (s.prefix.size() >= 3 && s.prefix.compare(s.prefix.size() - 3, 3, "/v1") == 0)
    s.prefix.resize(s.prefix.size() - 3);
  return s;
}

std::string seconds_text(double s) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g s", s);
  return buf;
}

bool is_local_host(const std::string& host_port) {
  std::string h = host_port;
  if (!h.empty() && h[0] == '[')
    h = h.substr(1, h.find(']') - 1);
  else if (size_t colon = h.rfind(':'); colon != std::string::npos)
    h.resize(colon);
  return h == "localhost" || h == "::1" || h == "0.0.0.0" || h.rfind("127.", 0) == 0;
}

class EndpointTarget : public Target {
 public:
  explicit EndpointTarget(const EndpointOptions& o) : o_(o), url_(split(o.url)) {
    if (!(o.timeout_s > 0)) throw Error("endpoint timeout must be positive");
    httplib::Client probe(url_.origin);
    if (!probe.is_valid()) throw Error("invalid endpoint URL '" + o.url + "'");
  }
  std::string device() const override { return "endpoint " + url_.host; }
  int n_gpu_layers() const override { return -1; }
  bool local_energy() const override { return is_local_host(url_.host); }

  Measurement run(const Request& r, const std::function<bool()>& stop) override {
    nlohmann::json body = {{"model", o_.model},
                           {"stream", true},
                           {"stream_options", {{"include_usage", true}}},
                           {"max_tokens", r.max_tokens},
                           {"temperature", r.temperature},
                           {"seed", r.seed},
                           {"cache_prompt", false}};  // llama-server: evaluate every prompt, as a local target does
    if (r.ignore_eos) body["ignore_eos"] = true;
    httplib::Request req;
    req.method = "POST";
    if (r.chat) {
      body["messages"] = nlohmann::json::array({{{"role", "user"}, {"content", r.prompt}}});
      req.path = url_.prefix + "/v1/chat/completions";
    } else {
      body["prompt"] = r.prompt;
      req.path = url_.prefix + "/v1/completions";
    }
    req.body = body.dump();
    req.headers = {{"Content-Type", "application/json"}, {"Accept", "text/event-stream"}};
    if (!o_.api_key.empty()) req.headers.emplace("Authorization", "Bearer " + o_.api_key);

    httplib::Client cli(url_.origin);
    const time_t secs = static_cast<time_t>(o_.timeout_s);
    const time_t usecs = static_cast<time_t>((o_.timeout_s - secs) * 1e6);
    cli.set_connection_timeout(secs, usecs);
    cli.set_read_timeout(secs, usecs);
    cli.set_write_timeout(secs, usecs);

    const auto t0 = SseStream::Clock::now();
    SseStream stream(t0);
    int status = 0;
    std::string error_body;
    bool cancelled = false, timed_out = false;
    req.response_handler = [&](const httplib::Response& res) {
      status = res.status;
      return true;
    };
    req.content_receiver = [&](const char* data, size_t n, uint64_t, uint64_t) {
      const auto now = SseStream::Clock::now();
      if (stop && stop()) return !(cancelled = true);
      if (std::chrono::duration<double>(now - t0).count() > o_.timeout_s) return !(timed_out = true);
      if (status != 200) {
        error_body.append(data, std::min(n, size_t{300} - std::min(error_body.size(), size_t{300})));
        return true;
      }
      return stream.feed(data, n, now);
    };
    const httplib::Result res = cli.send(req);
    Measurement m = stream.finish(SseStream::Clock::now());
    auto fail = [&](const std::string& why) {
      m.ok = false;
      m.error = why;
    };
    if (cancelled) {
      fail("cancelled");
    } else if (timed_out) {
      fail("timed out after " + seconds_text(o_.timeout_s));
    } else if (status != 0 && status != 200) {
      fail("HTTP " + std::to_string(status) + " from " + url_.origin + req.path +
           (error_body.empty() ? "" : ": " + error_body));
    } else if (!res && res.error() != httplib::Error::Canceled) {
      const bool read = res.error() == httplib::Error::Read;
      fail("request to " + url_.origin + req.path + " failed: " + httplib::to_string(res.error()) +
           (read ? " (no data within the timeout, or the connection was dropped)" : ""));
    }  // otherwise m carries the stream's own verdict (malformed JSON, a server error object, or success)
    return m;
  }

 private:
  EndpointOptions o_;
  SplitUrl url_;
};

}  // namespace

std::unique_ptr<Target> make_endpoint_target(const EndpointOptions& options) {
  return std::make_unique<EndpointTarget>(options);
}

#else

std::unique_ptr<Target> make_endpoint_target(const EndpointOptions& options) {
  throw Error("cannot use endpoint " + options.url + ": this hearth was built without HTTP support (cpp-httplib)");
}

#endif

}  // namespace hearth::eval

// HTTP(S) download with cpp-httplib: resume from a .part file, redirects followed hop by hop (each hop's
// destination checked, HF_TOKEN only where it belongs), sizes capped, atomic rename at the end.
#include <netdb.h>
#include <sys/socket.h>

#include <cstdio>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <fstream>
#include <optional>
#include <vector>

#include "hearth/download.h"
#include "hearth/error.h"
#include "store/fetch_url.h"

#ifdef HEARTH_HAVE_HTTP
#include <httplib.h>
#endif

namespace hearth {

#ifdef HEARTH_HAVE_HTTP
namespace {

constexpr int kMaxRedirects = 10;

// Content-Length as the server sent it: digits only, and no more than a file can have.
std::optional<uint64_t> parse_length(const std::string& v) {
  if (v.empty() || v.size() > 19 || v.find_first_not_of("0123456789") != std::string::npos) return std::nullopt;
  return std::strtoull(v.c_str(), nullptr, 10);  // at most 19 digits: no overflow
}

// A header value fit to quote in an error message.
std::string shown(std::string v) {
  if (v.size() > 40) v = v.substr(0, 40) + "...";
  for (char& c : v)
    if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) >= 0x7f) c = '?';
  return v;
}

// The addresses host resolves to (numeric text); empty when it does not resolve.
std::vector<std::string> resolve(const std::string& host) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  std::vector<std::string> out;
  if (::getaddrinfo(host.c_str(), nullptr, &hints, &res) != 0) return out;
  for (addrinfo* p = res; p; p = p->ai_next) {
    char buf[NI_MAXHOST];
    if (::getnameinfo(p->ai_addr, p->ai_addrlen, buf, sizeof buf, nullptr, 0, NI_NUMERICHOST) == 0) out.push_back(buf);
  }
  ::freeaddrinfo(res);
  return out;
}

// What one request gave.
struct Hop {
  int status = 0;
  std::string location;            // of a redirect
  std::exception_ptr stopped;      // thrown by the progress callback, or our own error, inside httplib
  std::string write_error;
  bool opened = false;             // the .part was opened for this response's body
};

class Download {
 public:
  Download(const std::string& url, const std::string& dest, const std::function<void(const DownloadProgress&)>& progress,
           const DownloadOptions& o)
      : url_(url), part_(dest + ".part"), dest_(dest), progress_(progress), o_(o) {}

  void run() {
    const char* env = std::getenv("HF_TOKEN");
    const std::string token = env ? env : "";
    bool token_on = !token.empty();
    have_ = std::filesystem::exists(part_) ? std::filesystem::file_size(part_) : 0;
    std::string current = url_;
    Hop h;
    for (int hop = 0;; ++hop) {
      const store::FetchUrl u = store::parse_fetch_url(current);
      // Sticky: once a hop goes where the token does not belong, no later hop gets it back.
      token_on = token_on && (o_.token_allowed ? o_.token_allowed(current) : hf_token_allowed(current));
      h = request(u, token_on ? token : "");
      if (h.stopped) std::rethrow_exception(h.stopped);
      if (!h.write_error.empty()) throw Error(h.write_error);
      if (h.status < 300 || h.status >= 400) break;
      if (h.location.empty()) throw Error("download of " + url_ + " failed: HTTP " + std::to_string(h.status));
      if (hop == kMaxRedirects) throw Error("download of " + url_ + " failed: more than 10 redirects");
      current = store::resolve_location(u, h.location);
    }
    // 416 (range not satisfiable) after a resume: the .part is already complete.
    if (!(h.status == 200 || h.status == 206 || (h.status == 416 && have_ > 0)))
      throw Error("download of " + url_ + " failed: HTTP " + std::to_string(h.status));
    const uint64_t got = std::filesystem::file_size(part_);
    if (prog_.total && got != prog_.total)
      throw Error("download of " + url_ + " was cut off (" + std::to_string(got) + " of " + std::to_string(prog_.total) +
                  " bytes); run again to resume");
    std::filesystem::rename(part_, dest_);
  }

 private:
  [[noreturn]] void unreachable(const store::FetchUrl& u) const {
    // The same words for a refused, unresolvable or unreachable destination: which one it was would tell a
    // client of the server what listens on the server's network.
    throw Error("download of " + url_ + " failed: cannot connect to " + u.host +
                " (it does not resolve, is unreachable or refused the connection, or is not a public internet "
                "address: this server pulls only from public addresses unless started with --allow-private-pull)");
  }

  // The address the connection must go to when private destinations are refused (checked here, so that a
  // second DNS lookup by the client cannot answer differently).
  std::string checked_address(const store::FetchUrl& u) const {
    const std::vector<std::string> addrs = resolve(u.host);
    if (addrs.empty()) unreachable(u);
    for (const std::string& a : addrs)
      if (!(o_.address_allowed ? o_.address_allowed(a) : is_public_address(a))) unreachable(u);
    for (const std::string& a : addrs)  // IPv4 first: hosts without an IPv6 route are common
      if (a.find(':') == std::string::npos) return a;
    return addrs.front();
  }

  Hop request(const store::FetchUrl& u, const std::string& token) {
    Hop h;
    std::optional<std::string> pinned;
    if (!o_.allow_private) pinned = checked_address(u);
    httplib::Client cli(u.origin());
    if (!cli.is_valid()) throw Error("download of " + url_ + " failed: cannot use " + u.origin());
    cli.set_follow_location(false);  // hop by hop, here
    cli.set_connection_timeout(30);
    cli.set_read_timeout(60);
    if (pinned) cli.set_hostname_addr_map({{u.host, *pinned}});
    httplib::Headers headers;
    headers.emplace("Accept-Encoding", "identity");  // the bytes of the file: resumable, and counted as stored
    if (have_ > 0) headers.emplace("Range", "bytes=" + std::to_string(have_) + "-");
    if (!token.empty()) headers.emplace("Authorization", "Bearer " + token);

    std::ofstream out;
    auto res = cli.Get(
        u.target, headers,
        [&](const httplib::Response& r) {
          h.status = r.status;
          if (r.status >= 300 && r.status < 400) {
            h.location = r.get_header_value("Location");
            return false;  // the body of a redirect is not read
          }
          if (r.status != 200 && r.status != 206) return false;
          try {
            prog_.done = r.status == 206 ? have_ : 0;  // 200: the server ignored the range, start over
            prog_.total = 0;
            if (r.has_header("Content-Length")) {
              const std::string v = r.get_header_value("Content-Length");
              const std::optional<uint64_t> n = parse_length(v);
              if (!n) throw Error("download of " + url_ + " failed: the server sent an invalid Content-Length '" +
                                  shown(v) + "'");
              prog_.total = prog_.done + *n;
              check_limit(prog_.total);
            }
          } catch (...) {
            h.stopped = std::current_exception();
            return false;
          }
          out.open(part_, std::ios::binary | (r.status == 206 ? std::ios::app : std::ios::trunc));
          h.opened = true;
          if (!out) {
            h.write_error = "cannot write " + part_;
            return false;
          }
          return true;
        },
        [&](const char* data, size_t n) {
          out.write(data, static_cast<std::streamsize>(n));
          if (!out) {
            h.write_error = "cannot write " + part_ + " (disk full?)";
            return false;
          }
          prog_.done += n;
          try {
            check_limit(prog_.done);
            if (progress_) progress_(prog_);
          } catch (...) {
            h.stopped = std::current_exception();
            return false;
          }
          return true;
        });
    out.close();
    if (h.opened) have_ = std::filesystem::file_size(part_);
    if (h.stopped || !h.write_error.empty() || h.status != 0) {
      if (!res && !h.stopped && h.write_error.empty() && (h.status == 200 || h.status == 206))
        throw Error("download of " + url_ + " failed: " + httplib::to_string(res.error()) + " after " +
                    std::to_string(have_) + " bytes; run again to resume");
      return h;
    }
    if (!o_.allow_private) unreachable(u);
    throw Error("download of " + url_ + " failed: " + httplib::to_string(res.error()));
  }

  void check_limit(uint64_t bytes) const {
    if (o_.max_bytes && bytes > o_.max_bytes)
      throw Error("download of " + url_ + " is larger than the limit of " + std::to_string(o_.max_bytes) +
                  " bytes (--max-pull-size)");
  }

  const std::string url_, part_, dest_;
  const std::function<void(const DownloadProgress&)>& progress_;
  const DownloadOptions& o_;
  uint64_t have_ = 0;  // bytes in the .part
  DownloadProgress prog_;
};

}  // namespace

void download_file(const std::string& url, const std::string& dest,
                   const std::function<void(const DownloadProgress&)>& progress, const DownloadOptions& options) {
  Download(url, dest, progress, options).run();
}

#else

void download_file(const std::string& url, const std::string&, const std::function<void(const DownloadProgress&)>&,
                   const DownloadOptions&) {
  throw Error("cannot download " + url + ": this hearth was built without HTTP support (cpp-httplib)");
}

#endif

}  // namespace hearth

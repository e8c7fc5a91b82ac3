// Host and Origin checks (serve/http_policy.h).
#include "serve/http_policy.h"

#include <arpa/inet.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstring>

namespace hearth::serve {
namespace {

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

bool contains(const std::vector<std::string>& list, const std::string& s) {
  return std::find(list.begin(), list.end(), s) != list.end();
}

bool is_ip_literal(const std::string& name) {
  unsigned char buf[16];
  return inet_pton(AF_INET, name.c_str(), buf) == 1 || inet_pton(AF_INET6, name.c_str(), buf) == 1;
}

bool is_loopback_name(const std::string& name) {
  const std::string suffix = ".localhost";  // RFC 6761: always this machine
  return name == "localhost" ||
         (name.size() > suffix.size() && name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0);
}

// "scheme://authority" without a path, lowercased, or "" when it is not one.
std::string normalized_origin(const std::string& origin) {
  const std::string o = lower(origin);
  const size_t sep = o.find("://");
  if (sep == std::string::npos || sep == 0 || o.find('/', sep + 3) != std::string::npos) return "";
  return o;
}

}  // namespace

HttpPolicy make_http_policy(const std::string& host, const std::vector<std::string>& allowed_hosts,
                            const std::vector<std::string>& allowed_origins) {
  HttpPolicy p;
  for (const std::string& h : allowed_hosts)
    if (!h.empty()) p.allowed_hosts.push_back(h == "*" ? h : host_name_of(h));
  for (const std::string& o : allowed_origins) {
    std::string n = lower(o);
    while (!n.empty() && n.back() == '/') n.pop_back();  // "http://app.example/" is the same origin
    if (!n.empty()) p.allowed_origins.push_back(n);
  }
  p.bound_host = host_name_of(host);
  char name[256] = {};
  if (gethostname(name, sizeof name - 1) == 0) p.machine_name = host_name_of(name);
  return p;
}

std::string host_name_of(const std::string& host_header) {
  std::string h = lower(host_header);
  if (!h.empty() && h.front() == '[') {  // [v6]:port
    const size_t close = h.find(']');
    h = close == std::string::npos ? h.substr(1) : h.substr(1, close - 1);
  } else if (std::count(h.begin(), h.end(), ':') == 1) {
    h = h.substr(0, h.find(':'));
  }
  if (!h.empty() && h.back() == '.') h.pop_back();
  return h;
}

bool host_allowed(const HttpPolicy& policy, const std::string& host_header) {
  if (host_header.empty() || contains(policy.allowed_hosts, "*")) return true;
  const std::string name = host_name_of(host_header);
  if (name.empty()) return false;
  return is_ip_literal(name) || is_loopback_name(name) || name == policy.bound_host ||
         (!policy.machine_name.empty() && name == policy.machine_name) || contains(policy.allowed_hosts, name);
}

bool origin_allowed(const HttpPolicy& policy, const std::string& origin, const std::string& host_header, int port) {
  if (contains(policy.allowed_origins, "*")) return true;
  const std::string o = normalized_origin(origin);
  if (o.empty()) return false;
  if (contains(policy.allowed_origins, o)) return true;
  // The page this server served: its origin is the Host the request went to (checked by host_allowed).
  const std::string host = lower(host_header);
  const std::string authority = o.substr(o.find("://") + 3);
  const std::string scheme = o.substr(0, o.find("://"));
  if (!host.empty() && authority == host && (scheme == "http" || scheme == "https")) return true;
  if (scheme != "http") return false;
  const std::string p = std::to_string(port);
  for (const char* loopback : {"127.0.0.1:", "localhost:", "[::1]:"})
    if (authority.size() == std::strlen(loopback) + p.size() && authority.rfind(loopback, 0) == 0 &&
        authority.compare(std::strlen(loopback), p.size(), p) == 0)
      return true;
  return false;
}

}  // namespace hearth::serve

// Strict http(s) URL parsing for downloads (see fetch_url.h).
#include "store/fetch_url.h"

#include <arpa/inet.h>

#include <cctype>

#include "hearth/error.h"

namespace hearth::store {
namespace {

[[noreturn]] void invalid(const std::string& url, const std::string& why) {
  std::string shown = url.size() > 200 ? url.substr(0, 200) + "..." : url;
  for (char& c : shown)
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '?';
  throw Error("invalid URL '" + shown + "': " + why);
}

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

}  // namespace

std::string FetchUrl::origin() const {
  return scheme + "://" + (ipv6_literal ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

FetchUrl parse_fetch_url(const std::string& url) {
  for (char c : url)
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) invalid(url, "control characters");
  const size_t sep = url.find("://");
  if (sep == std::string::npos) invalid(url, "expected http:// or https://");
  FetchUrl u;
  u.scheme = lower(url.substr(0, sep));
  if (u.scheme != "http" && u.scheme != "https") invalid(url, "only http and https are supported");
  const size_t start = sep + 3;
  const size_t end = url.find_first_of("/?#", start);
  const std::string authority = url.substr(start, end == std::string::npos ? std::string::npos : end - start);
  // Browsers read '\' as '/' and split "user@host" differently from naive parsers: refuse both rather than
  // guess which host a reader of the URL would see.
  if (authority.find('@') != std::string::npos) invalid(url, "credentials in URLs are not supported");
  if (authority.find('\\') != std::string::npos) invalid(url, "'\\' in the host");
  std::string host, port;
  if (!authority.empty() && authority[0] == '[') {
    const size_t close = authority.find(']');
    if (close == std::string::npos) invalid(url, "unterminated IPv6 address");
    host = authority.substr(1, close - 1);
    in6_addr a6{};
    if (inet_pton(AF_INET6, host.c_str(), &a6) != 1) invalid(url, "bad IPv6 address");
    u.ipv6_literal = true;
    const std::string rest = authority.substr(close + 1);
    if (!rest.empty()) {
      if (rest[0] != ':') invalid(url, "unexpected text after the IPv6 address");
      port = rest.substr(1);
      if (port.empty()) invalid(url, "empty port");
    }
  } else {
    const size_t colon = authority.find(':');
    host = authority.substr(0, colon);
    if (colon != std::string::npos) {
      port = authority.substr(colon + 1);
      if (port.empty()) invalid(url, "empty port");
    }
    if (!host.empty() && host.back() == '.') host.pop_back();  // "huggingface.co." is huggingface.co
    if (host.empty()) invalid(url, "no host");
    for (char c : host)
      if (!std::isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '-' && c != '_')
        invalid(url, "bad character in the host");
    if (host[0] == '.' || host.back() == '.' || host.find("..") != std::string::npos)
      invalid(url, "empty label in the host");
  }
  u.host = lower(host);
  if (port.empty()) {
    u.port = u.scheme == "https" ? 443 : 80;
  } else {
    if (port.size() > 5 || port.find_first_not_of("0123456789") != std::string::npos) invalid(url, "bad port");
    u.port = std::stoi(port);
    if (u.port < 1 || u.port > 65535) invalid(url, "bad port");
  }
  std::string target = end == std::string::npos ? "" : url.substr(end);
  const size_t hash = target.find('#');
  if (hash != std::string::npos) target.resize(hash);
  if (target.empty() || target[0] != '/') target = "/" + target;
  u.target = target;
  return u;
}

std::string resolve_location(const FetchUrl& base, const std::string& location) {
  const size_t sep = location.find("://");
  if (sep != std::string::npos && location.find_first_of("/?#") > sep) return location;  // absolute
  if (location.rfind("//", 0) == 0) return base.scheme + ":" + location;
  const std::string origin = base.scheme + "://" + (base.ipv6_literal ? "[" + base.host + "]" : base.host) + ":" +
                             std::to_string(base.port);
  if (!location.empty() && location[0] == '/') return origin + location;
  // Relative to the directory of base's path (the query is not part of it).
  std::string dir = base.target.substr(0, base.target.find('?'));
  dir.resize(dir.rfind('/') + 1);
  if (!location.empty() && location[0] == '?') return origin + base.target.substr(0, base.target.find('?')) + location;
  return origin + dir + location;
}

}  // namespace hearth::store

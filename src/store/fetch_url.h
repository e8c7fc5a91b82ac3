// The http(s) URLs downloads go to, parsed once and strictly, so that the host the policy checks (HF_TOKEN,
// private addresses) is the host the connection goes to: no credentials ("user@host"), no backslashes or
// control characters, a lower-case host without a trailing dot, an explicit port.
#pragma once
#include <string>

namespace hearth::store {

struct FetchUrl {
  std::string scheme;  // "http" or "https"
  std::string host;    // lower case, no trailing dot; an IPv6 literal without its brackets
  int port = 0;        // explicit, or the scheme's default
  std::string target;  // path and query ("/..."), without the fragment
  bool ipv6_literal = false;

  // scheme://host:port, the form httplib's Client takes.
  std::string origin() const;
};

// Throws hearth::Error ("invalid URL '...': why") for anything but a well-formed http(s) URL.
FetchUrl parse_fetch_url(const std::string& url);
// The URL a redirect's Location names (absolute, scheme-relative "//host/...", absolute-path "/..." or
// relative to base's path), as text for parse_fetch_url.
std::string resolve_location(const FetchUrl& base, const std::string& location);

}  // namespace hearth::store

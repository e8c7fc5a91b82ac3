// Which Host and Origin headers the server answers: the defence against DNS rebinding (a foreign name that
// resolves to this machine) and cross-site requests (a page elsewhere driving the API from a browser).
#pragma once
#include <string>
#include <vector>

namespace hearth::serve {

struct HttpPolicy {
  std::vector<std::string> allowed_hosts;    // lowercased names; "*": any
  std::vector<std::string> allowed_origins;  // lowercased "scheme://host[:port]"; "*": any
  std::string bound_host;                    // the address or name the server listens on
  std::string machine_name;                  // gethostname()
};

// The policy for a server bound to `host`, with the --allowed-hosts/--allowed-origins values.
HttpPolicy make_http_policy(const std::string& host, const std::vector<std::string>& allowed_hosts,
                            const std::vector<std::string>& allowed_origins);

// The name in a Host header: lowercased, without the port, the brackets of an IPv6 literal or a final dot.
std::string host_name_of(const std::string& host_header);

// A Host header the server answers: empty (HTTP/1.0), an IP literal (a rebinding attack needs a name), a
// loopback name (localhost, *.localhost), the bound host, this machine's name, or an allowed host.
bool host_allowed(const HttpPolicy& policy, const std::string& host_header);

// An Origin whose page may call the server: its own (the origin of the Host the request was sent to),
// http://localhost|127.0.0.1|[::1]:port, or an allowed origin. "null" (sandboxed pages, files) only by "*".
bool origin_allowed(const HttpPolicy& policy, const std::string& origin, const std::string& host_header, int port);

}  // namespace hearth::serve

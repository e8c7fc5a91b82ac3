#ifdef HEARTH_HAVE_HTTP
#include "serve/web_page.h"

#include <httplib.h>

#include "serve/chat_html.h"

namespace hearth::serve {

void add_web_routes(httplib::Server& http) {
  http.Get("/", [](const httplib::Request&, httplib::Response& res) {
    res.set_content(kChatHtml, sizeof(kChatHtml) - 1, "text/html; charset=utf-8");
    // Everything the page needs is inline; it talks only to this server.
    res.set_header("Content-Security-Policy",
                   "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'");
    res.set_header("X-Content-Type-Options", "nosniff");
  });
}

bool is_public_path(const std::string& method, const std::string& path) {
  return path == "/health" || (path == "/" && (method == "GET" || method == "HEAD"));
}

}  // namespace hearth::serve
#endif  // HEARTH_HAVE_HTTP

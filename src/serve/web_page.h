// The built-in web chat page at GET / (src/serve/web/chat.html, compiled in).
#pragma once
#include <string>

namespace httplib {
class Server;
}

namespace hearth::serve {

void add_web_routes(httplib::Server& http);
// Paths served without an API key: the page itself must load so that its key field can be filled in.
bool is_public_path(const std::string& method, const std::string& path);

}  // namespace hearth::serve

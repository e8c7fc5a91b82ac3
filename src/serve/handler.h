// Route handlers run inside one wrapper: any error becomes a JSON error response in the API's style,
// never a crash or an HTML page.
#pragma once
#include <functional>

#include <httplib.h>

#include "serve/api_error.h"

namespace hearth::serve {

using Handler = std::function<void(const httplib::Request&, httplib::Response&)>;

void send_json(httplib::Response& res, const nlohmann::json& body, int status = 200);
void send_error(httplib::Response& res, ApiStyle style, int status, const std::string& message,
                const std::string& type = "", const std::string& code = "");
// The handler with its exceptions turned into errors (ApiError as given, hearth::Error 400, others 500).
httplib::Server::Handler guarded(ApiStyle style, Handler h);
// A route that answers 501 (not implemented in this version).
httplib::Server::Handler not_implemented(ApiStyle style, const std::string& what);

}  // namespace hearth::serve

#include "serve/handler.h"

#include "hearth/error.h"

namespace hearth::serve {

void send_json(httplib::Response& res, const nlohmann::json& body, int status) {
  res.status = status;
  res.set_content(body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace), "application/json");
}

void send_error(httplib::Response& res, ApiStyle style, int status, const std::string& message,
                const std::string& type, const std::string& code) {
  send_json(res, error_body(style, status, message, type, code), status);
}

httplib::Server::Handler guarded(ApiStyle style, Handler h) {
  return [style, h = std::move(h)](const httplib::Request& req, httplib::Response& res) {
    try {
      h(req, res);
    } catch (const ApiError& e) {
      send_error(res, style, e.status, e.what(), e.type, e.code);
    } catch (const Error& e) {
      send_error(res, style, 400, e.what());
    } catch (const nlohmann::json::exception& e) {
      send_error(res, style, 400, std::string("invalid request: ") + e.what());
    } catch (const std::bad_alloc&) {
      send_error(res, style, 500, "out of memory");
    } catch (const std::exception& e) {
      send_error(res, style, 500, std::string("internal error: ") + e.what());
    }
  };
}

httplib::Server::Handler not_implemented(ApiStyle style, const std::string& what) {
  return [style, what](const httplib::Request&, httplib::Response& res) {
    send_error(res, style, 501, what + " is not implemented in this version of hearth serve", "not_implemented_error",
               "not_implemented");
  };
}

}  // namespace hearth::serve

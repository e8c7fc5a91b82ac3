// cpp-httplib's server with the connection handling a server open to the network needs: a deadline for a
// request's head and one for its body (httplib bounds only each recv(), so a client trickling one header line
// every few seconds held a thread for ever: slowloris), a limit of connections per client address, and request
// bodies of every content type kept whole for the JSON handlers (httplib parses form and multipart bodies
// itself and refused form bodies over 8 KiB).
#pragma once
#include <httplib.h>

#include <chrono>
#include <mutex>
#include <string>
#include <unordered_map>

namespace hearth::serve {

class GuardedHttpServer : public httplib::Server {
 public:
  struct Limits {
    std::chrono::milliseconds header_timeout{10000};  // first byte (or pick-up) to the end of the headers
    std::chrono::milliseconds body_timeout{60000};    // end of the headers to the end of the body
    int max_client_connections = 0;                  // per client address; 0: none
    bool limit_loopback = true;                       // false: loopback clients are not counted
  };
  explicit GuardedHttpServer(const Limits& limits) : limits_(limits) {}

  // For the handlers of the request this thread serves: close the connection after the response (a refusal
  // sent before the body was read: what follows on the connection is not a request).
  static void close_after_response();
  // Whether the request this thread serves failed because its head or body did not arrive in time (httplib
  // then answers 400; the error handler makes it 408) and the message to give.
  static bool request_timed_out(std::string* message);

 private:
  bool process_and_close_socket(socket_t sock) override;
  bool admit(const std::string& client);
  void release(const std::string& client);
  bool counted(const std::string& client) const;

  Limits limits_;
  std::mutex mutex_;
  std::unordered_map<std::string, int> connections_;  // per client address
};

}  // namespace hearth::serve

// The connection loop of GuardedHttpServer (serve/guarded_http_server.h), in place of httplib's
// process_and_close_socket(): the same keep-alive loop over process_request(), with a stream that enforces the
// request's deadline, one stream per connection (so that pipelined bytes are not lost between requests) and
// the per-client count around it.
#ifdef HEARTH_HAVE_HTTP
#include "serve/guarded_http_server.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstring>

namespace hearth::serve {
namespace {

using Clock = std::chrono::steady_clock;

// What the request this thread serves has come to, for the handlers and the error handler.
struct ConnectionState {
  bool timed_out = false;     // a read hit the deadline
  bool in_body = false;       // the headers were read
  bool close_after = false;   // close the connection after this response
  std::chrono::milliseconds limit{0};
};
thread_local ConnectionState* t_state = nullptr;

int poll_ms(socket_t fd, short events, int ms) {
  pollfd p{fd, events, 0};
  int r;
  do {
    r = ::poll(&p, 1, ms);
  } while (r < 0 && errno == EINTR);
  return r;
}

// A socket stream like httplib's SocketStream (a read buffer, per-call timeouts, MSG_NOSIGNAL), whose reads
// also end at the request's deadline.
class DeadlineStream : public httplib::Stream {
 public:
  DeadlineStream(socket_t sock, int read_timeout_ms, int write_timeout_ms, ConnectionState& state)
      : sock_(sock), read_timeout_ms_(read_timeout_ms), write_timeout_ms_(write_timeout_ms), state_(state) {}

  void set_deadline(Clock::time_point t) { deadline_ = t; }
  bool has_buffered() const { return off_ < size_; }

  bool is_readable() const override { return has_buffered() || wait_readable(); }
  bool is_writable() const override {
    if (poll_ms(sock_, POLLOUT, write_timeout_ms_) <= 0) return false;
    // Alive: nothing to read, or something (not an orderly close) to peek at.
    if (poll_ms(sock_, POLLIN, 0) == 0) return true;
    char c;
    return ::recv(sock_, &c, 1, MSG_PEEK) > 0;
  }
  ssize_t read(char* ptr, size_t size) override {
    if (has_buffered()) {
      const size_t n = std::min(size, size_ - off_);
      std::memcpy(ptr, buf_.data() + off_, n);
      off_ += n;
      return static_cast<ssize_t>(n);
    }
    if (!wait_readable()) return -1;
    off_ = size_ = 0;
    if (size >= buf_.size()) return recv_some(ptr, size);
    const ssize_t n = recv_some(buf_.data(), buf_.size());
    if (n <= 0) return n;
    size_ = static_cast<size_t>(n);
    return read(ptr, size);
  }
  ssize_t write(const char* ptr, size_t size) override {
    if (poll_ms(sock_, POLLOUT, write_timeout_ms_) <= 0) return -1;
    ssize_t n;
    do {
      n = ::send(sock_, ptr, size, MSG_NOSIGNAL);
    } while (n < 0 && errno == EINTR);
    return n;
  }
  void get_remote_ip_and_port(std::string& ip, int& port) const override { address(true, ip, port); }
  void get_local_ip_and_port(std::string& ip, int& port) const override { address(false, ip, port); }
  socket_t socket() const override { return sock_; }

 private:
  // Readable within the per-read timeout and before the deadline; a deadline passed marks the request.
  bool wait_readable() const {
    const auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline_ - Clock::now()).count();
    if (left <= 0) {
      state_.timed_out = true;
      return false;
    }
    const bool deadline_first = left <= read_timeout_ms_;
    const int r = poll_ms(sock_, POLLIN, static_cast<int>(deadline_first ? left : read_timeout_ms_));
    if (r > 0) return true;
    if (r == 0 && deadline_first) state_.timed_out = true;
    return false;
  }
  ssize_t recv_some(char* p, size_t n) {
    ssize_t r;
    do {
      r = ::recv(sock_, p, n, 0);
    } while (r < 0 && errno == EINTR);
    return r;
  }
  void address(bool remote, std::string& ip, int& port) const {
    sockaddr_storage a{};
    socklen_t len = sizeof a;
    const int r = remote ? ::getpeername(sock_, reinterpret_cast<sockaddr*>(&a), &len)
                         : ::getsockname(sock_, reinterpret_cast<sockaddr*>(&a), &len);
    if (r != 0) return;
    std::array<char, NI_MAXHOST> host{};
    if (getnameinfo(reinterpret_cast<sockaddr*>(&a), len, host.data(), host.size(), nullptr, 0, NI_NUMERICHOST) != 0)
      return;
    ip = host.data();
    port = ntohs(a.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6*>(&a)->sin6_port
                                         : reinterpret_cast<sockaddr_in*>(&a)->sin_port);
  }

  socket_t sock_;
  int read_timeout_ms_, write_timeout_ms_;
  ConnectionState& state_;
  Clock::time_point deadline_ = Clock::time_point::max();
  std::array<char, 4096> buf_{};
  size_t off_ = 0, size_ = 0;
};

std::string peer_address(socket_t sock) {
  std::string ip;
  int port = 0;
  ConnectionState unused;
  DeadlineStream(sock, 0, 0, unused).get_remote_ip_and_port(ip, port);
  return ip;
}

bool is_loopback(const std::string& ip) {
  return ip.rfind("127.", 0) == 0 || ip == "::1" || ip.rfind("::ffff:127.", 0) == 0;
}

// Answers a connection over the client's limit and closes it, reading what the client has sent so that the
// answer is not lost to a reset; briefly, so that a client that keeps its connections open costs little.
void refuse_connection(socket_t sock, int limit) {
  const std::string body = "{\"error\":\"too many connections from this client (at most " + std::to_string(limit) +
                           " at once: hearth serve --max-client-connections)\"}";
  const std::string head = "HTTP/1.1 429 Too Many Requests\r\nContent-Type: application/json\r\nConnection: close\r\n"
                           "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n";
  const std::string all = head + body;
  if (poll_ms(sock, POLLOUT, 1000) > 0) (void)::send(sock, all.data(), all.size(), MSG_NOSIGNAL);
  ::shutdown(sock, SHUT_WR);
  const auto end = Clock::now() + std::chrono::milliseconds(50);
  char buf[4096];
  while (Clock::now() < end && poll_ms(sock, POLLIN, 10) > 0)
    if (::recv(sock, buf, sizeof buf, 0) <= 0) break;
}

int to_ms(time_t sec, time_t usec) { return static_cast<int>(sec * 1000 + usec / 1000); }

}  // namespace

void GuardedHttpServer::close_after_response() {
  if (t_state) t_state->close_after = true;
}

bool GuardedHttpServer::request_timed_out(std::string* message) {
  if (!t_state || !t_state->timed_out) return false;
  if (message)
    *message = std::string("request ") + (t_state->in_body ? "body" : "headers") + " not received within " +
               std::to_string(t_state->limit.count()) + " ms";
  return true;
}

bool GuardedHttpServer::counted(const std::string& client) const {
  return limits_.max_client_connections > 0 && (limits_.limit_loopback || !is_loopback(client));
}

bool GuardedHttpServer::admit(const std::string& client) {
  if (!counted(client)) return true;
  std::lock_guard<std::mutex> lock(mutex_);
  int& n = connections_[client];
  if (n >= limits_.max_client_connections) {
    if (n == 0) connections_.erase(client);
    return false;
  }
  ++n;
  return true;
}

void GuardedHttpServer::release(const std::string& client) {
  if (!counted(client)) return;
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = connections_.find(client);
  if (it != connections_.end() && --it->second <= 0) connections_.erase(it);
}

bool GuardedHttpServer::process_and_close_socket(socket_t sock) {
  bool ret = false;
  std::string client;
  bool admitted = false;
  try {
    client = peer_address(sock);
    admitted = admit(client);
    if (!admitted) {
      refuse_connection(sock, limits_.max_client_connections);
    } else {
      ConnectionState state;
      t_state = &state;
      DeadlineStream strm(sock, to_ms(read_timeout_sec_, read_timeout_usec_),
                          to_ms(write_timeout_sec_, write_timeout_usec_), state);
      const int idle_ms = static_cast<int>(keep_alive_timeout_sec_ * 1000);
      bool first = true;
      for (size_t count = keep_alive_max_count_; count > 0 && svr_sock_ != INVALID_SOCKET; --count) {
        // Wait for the next request (the first one may not take longer than its header deadline either),
        // looking now and then whether the server stops.
        const auto picked = Clock::now();
        const int wait_ms = first ? std::min<int>(idle_ms, static_cast<int>(limits_.header_timeout.count())) : idle_ms;
        bool ready = strm.has_buffered();
        while (!ready && svr_sock_ != INVALID_SOCKET) {
          const int left = wait_ms - static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                                          Clock::now() - picked).count());
          if (left <= 0) break;
          const int r = poll_ms(sock, POLLIN, std::min(left, 100));
          if (r < 0) break;
          ready = r > 0;
        }
        if (!ready) break;
        state = ConnectionState{};
        state.limit = limits_.header_timeout;
        strm.set_deadline((first ? picked : Clock::now()) + limits_.header_timeout);
        bool connection_closed = false;
        ret = process_request(strm, count == 1, connection_closed, [&](httplib::Request& req) {
          // The headers are in: the body has its own deadline.
          state.in_body = true;
          state.limit = limits_.body_timeout;
          strm.set_deadline(Clock::now() + limits_.body_timeout);
          // httplib would parse these bodies itself (and refuse form bodies over 8 KiB); every endpoint here
          // takes JSON whatever the client called it (`curl -d` sends application/x-www-form-urlencoded).
          const std::string type = req.get_header_value("Content-Type");
          if (type.rfind("application/x-www-form-urlencoded", 0) == 0 || type.rfind("multipart/form-data", 0) == 0) {
            req.headers.erase("Content-Type");
            req.headers.emplace("Content-Type", "application/json");
          }
        });
        if (!ret || connection_closed || state.timed_out || state.close_after) break;
        first = false;
      }
      t_state = nullptr;
    }
  } catch (...) {
    // Nothing may escape a pool thread; the connection just ends.
    t_state = nullptr;
  }
  if (admitted) release(client);
  ::shutdown(sock, SHUT_RDWR);
  ::close(sock);
  return ret;
}

}  // namespace hearth::serve
#endif  // HEARTH_HAVE_HTTP

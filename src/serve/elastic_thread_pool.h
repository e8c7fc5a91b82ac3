// The HTTP server's task queue: each connection runs on a thread of its own, as in httplib's ThreadPool, but
// when every thread is taken a new one starts, up to a cap. httplib's fixed pool let a few dozen slow clients
// (each holding a thread while it trickles its request) queue every other connection behind them; here a new
// client still gets a thread at once, while the request deadlines and the per-client limit
// (serve/guarded_http_server.h) end the slow ones.
#pragma once
#include <httplib.h>

#include <condition_variable>
#include <functional>
#include <list>
#include <mutex>
#include <thread>
#include <vector>

namespace hearth::serve {

class ElasticThreadPool : public httplib::TaskQueue {
 public:
  // `base` threads at start, at most `max` (connections beyond wait in a queue).
  ElasticThreadPool(size_t base, size_t max);
  ~ElasticThreadPool() override;
  void enqueue(std::function<void()> fn) override;
  void shutdown() override;

 private:
  void start_thread();  // mutex_ held
  void work();

  const size_t max_;
  std::mutex mutex_;
  std::condition_variable cond_;
  std::list<std::function<void()>> jobs_;
  std::vector<std::thread> threads_;
  size_t idle_ = 0;
  bool shutdown_ = false;
};

}  // namespace hearth::serve

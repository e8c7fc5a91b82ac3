// ElasticThreadPool (serve/elastic_thread_pool.h).
#ifdef HEARTH_HAVE_HTTP
#include "serve/elastic_thread_pool.h"

#include <algorithm>

namespace hearth::serve {

ElasticThreadPool::ElasticThreadPool(size_t base, size_t max) : max_(std::max<size_t>({max, base, 1})) {
  std::lock_guard<std::mutex> lock(mutex_);
  for (size_t i = 0; i < std::max<size_t>(base, 1); ++i) start_thread();
}

ElasticThreadPool::~ElasticThreadPool() { shutdown(); }

void ElasticThreadPool::start_thread() {
  threads_.emplace_back([this] { work(); });
  ++idle_;
}

void ElasticThreadPool::enqueue(std::function<void()> fn) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (shutdown_) return;
    jobs_.push_back(std::move(fn));
    // Every thread busy with an earlier job: one more, while the cap allows.
    if (idle_ < jobs_.size() && threads_.size() < max_) {
      try {
        start_thread();
      } catch (const std::system_error&) {
        // No more threads from the system: the job waits for a free one.
      }
    }
  }
  cond_.notify_one();
}

void ElasticThreadPool::shutdown() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (shutdown_ && threads_.empty()) return;
    shutdown_ = true;
  }
  cond_.notify_all();
  std::vector<std::thread> threads;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    threads.swap(threads_);
  }
  for (std::thread& t : threads) t.join();
}

void ElasticThreadPool::work() {
  for (;;) {
    std::function<void()> fn;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      cond_.wait(lock, [this] { return shutdown_ || !jobs_.empty(); });
      if (jobs_.empty()) return;  // shut down, and nothing left to do (as httplib's pool: queued jobs run)
      fn = std::move(jobs_.front());
      jobs_.pop_front();
      --idle_;
    }
    try {
      fn();
    } catch (...) {
      // A job's exception must not end the process; the connection it served is closed by its own code.
    }
    std::lock_guard<std::mutex> lock(mutex_);
    ++idle_;
  }
}

}  // namespace hearth::serve
#endif  // HEARTH_HAVE_HTTP

// A fixed pool of worker threads that run one job at a time on all threads (the caller is thread 0).
// Workers spin briefly between jobs so that the many small jobs of a decode step start fast.
#pragma once
#include <atomic>
#include <condition_variable>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace hearth {

class ThreadPool {
 public:
  explicit ThreadPool(int n_threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const { return n_threads_; }
  // Runs fn(ith, nth) on every thread, ith in [0, nth); returns when all are done. An exception from fn on any
  // thread is rethrown here once all are done (the first one; it never ends a worker thread).
  void run(const std::function<void(int ith, int nth)>& fn);
  // Splits [0, n) into contiguous chunks, one per thread: fn(begin, end, ith).
  void parallel_for(int64_t n, const std::function<void(int64_t begin, int64_t end, int ith)>& fn);
  // Splits [0, n) into chunks of `chunk` that threads take in turn as they finish (uneven or noisy work).
  void parallel_for_dynamic(int64_t n, int64_t chunk, const std::function<void(int64_t begin, int64_t end, int ith)>& fn);

 private:
  void worker(int ith);

  int n_threads_;
  std::vector<std::thread> threads_;
  const std::function<void(int, int)>* job_ = nullptr;
  std::atomic<uint64_t> generation_{0};
  std::atomic<int> pending_{0};
  std::atomic<bool> stop_{false};
  std::mutex mu_;
  std::condition_variable cv_;
  std::exception_ptr error_;  // under mu_: the first exception a worker's part of the job threw
};

}  // namespace hearth

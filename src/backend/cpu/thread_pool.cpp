#include "backend/cpu/thread_pool.h"

#include <algorithm>
#include <chrono>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace hearth {
namespace {
inline void cpu_relax() {
#if defined(__x86_64__)
  _mm_pause();
#endif
}
// Between jobs a worker polls for about 20-100 us (pause costs 10-140 cycles depending on the CPU), yielding
// the core to other runnable threads after each short burst, then sleeps on the condition variable.
constexpr int kSpinIterations = 4000;
constexpr int kWaitSpins = 256;
}  // namespace

ThreadPool::ThreadPool(int n_threads) : n_threads_(std::max(1, n_threads)) {
  for (int i = 1; i < n_threads_; ++i) threads_.emplace_back([this, i] { worker(i); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
    generation_.fetch_add(1);
  }
  cv_.notify_all();
  for (auto& t : threads_) t.join();
}

void ThreadPool::run(const std::function<void(int, int)>& fn) {
  if (n_threads_ == 1) {
    fn(0, 1);
    return;
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    job_ = &fn;
    pending_.store(n_threads_ - 1);
    generation_.fetch_add(1, std::memory_order_release);
  }
  cv_.notify_all();
  std::exception_ptr mine;
  try {
    fn(0, n_threads_);
  } catch (...) {
    mine = std::current_exception();  // rethrown once the workers are done with fn
  }
  // Spin briefly, then yield: when the machine is oversubscribed the worker we wait for may need this core.
  for (int spins = 0; pending_.load(std::memory_order_acquire) != 0; ++spins) {
    if (spins < kWaitSpins)
      cpu_relax();
    else
      std::this_thread::yield();
  }
  if (mine) std::rethrow_exception(mine);
  std::exception_ptr theirs;
  {
    std::lock_guard<std::mutex> lock(mu_);
    theirs.swap(error_);
  }
  if (theirs) std::rethrow_exception(theirs);
}

void ThreadPool::parallel_for(int64_t n, const std::function<void(int64_t, int64_t, int)>& fn) {
  run([&](int ith, int nth) {
    int64_t per = (n + nth - 1) / nth;
    int64_t b = std::min<int64_t>(n, per * ith), e = std::min<int64_t>(n, b + per);
    if (b < e) fn(b, e, ith);
  });
}

void ThreadPool::parallel_for_dynamic(int64_t n, int64_t chunk, const std::function<void(int64_t, int64_t, int)>& fn) {
  chunk = std::max<int64_t>(1, chunk);
  std::atomic<int64_t> next{0};
  run([&](int ith, int) {
    for (int64_t b; (b = next.fetch_add(chunk, std::memory_order_relaxed)) < n;) fn(b, std::min(n, b + chunk), ith);
  });
}

void ThreadPool::worker(int ith) {
  uint64_t seen = 0;
  for (;;) {
    // Spin for a while (cheap wake-up during a forward pass), then sleep.
    int spins = 0;
    while (generation_.load(std::memory_order_acquire) == seen && spins < kSpinIterations) {
      if (++spins % kWaitSpins == 0)
        std::this_thread::yield();
      else
        cpu_relax();
    }
    if (generation_.load(std::memory_order_acquire) == seen) {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [&] { return generation_.load() != seen; });
    }
    seen = generation_.load(std::memory_order_acquire);
    if (stop_) return;
    try {
      (*job_)(ith, n_threads_);
    } catch (...) {  // an exception must not end this thread (std::terminate): run() rethrows it
      std::lock_guard<std::mutex> lock(mu_);
      if (!error_) error_ = std::current_exception();
    }
    pending_.fetch_sub(1, std::memory_order_acq_rel);
  }
}

}  // namespace hearth

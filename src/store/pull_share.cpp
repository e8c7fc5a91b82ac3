// Shared pulls: one download per source at a time (see pull_share.h).
#include "store/pull_share.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <exception>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>

#include "hearth/error.h"

namespace hearth::store {
namespace {

// Whether fd is still the file at path (a collector or a finished download may have renamed or removed it
// between our open and our lock).
bool still_at(int fd, const std::string& path) {
  struct stat a {}, b {};
  return ::fstat(fd, &a) == 0 && ::stat(path.c_str(), &b) == 0 && a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

}  // namespace

namespace {

// Locks path (created when missing) without waiting; -1 when another holds it. Throws when it cannot open it.
int try_lock(const std::string& path) {
  for (;;) {
    const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (fd < 0) throw Error("cannot open " + path + ": " + std::strerror(errno));
    int r;
    while ((r = ::flock(fd, LOCK_EX | LOCK_NB)) != 0 && errno == EINTR) {
    }
    if (r != 0) {
      const int e = errno;
      ::close(fd);
      if (e == EWOULDBLOCK) return -1;
      throw Error("cannot lock " + path + ": " + std::strerror(e));
    }
    if (still_at(fd, path)) return fd;
    ::close(fd);  // the holder removed the file we locked: lock the one at path now
  }
}

}  // namespace

PullLock::PullLock(const std::string& base, const std::function<void()>& waiting) : path_(base + ".lock") {
  while ((fd_ = try_lock(path_)) < 0) {
    if (waiting) waiting();
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

PullLock::~PullLock() {
  if (fd_ < 0) return;
  ::unlink(path_.c_str());  // still locked: whoever waits on this file sees it gone and locks a fresh one
  ::close(fd_);
}

size_t remove_unused_download(const std::string& base) {
  PullLock lock;
  lock.path_ = base + ".lock";
  try {
    lock.fd_ = try_lock(lock.path_);
  } catch (const Error&) {
    return 0;
  }
  if (lock.fd_ < 0) return 0;
  size_t removed = 0;
  for (const std::string& p : {base, base + ".part"}) removed += ::unlink(p.c_str()) == 0;
  return removed;  // the lock file goes with the lock
}

namespace {

// One pull in progress in this process, for the pulls of the same source that wait for it.
struct Flight {
  std::mutex mu;
  std::condition_variable cv;
  bool finished = false;
  std::optional<PulledBlob> blob;  // empty after a failure
  std::string status;
  uint64_t done = 0, total = 0;
  uint64_t updates = 0;  // counts progress reports, so that a waiter sees each change once
};

std::mutex flights_mu;
std::map<std::string, std::shared_ptr<Flight>> flights;

PulledBlob lead_flight(const std::string& key, const std::shared_ptr<Flight>& f,
                       const std::function<PulledBlob(const PullProgress&)>& lead, const PullProgress& progress) {
  auto finish = [&](std::optional<PulledBlob> blob) {
    {
      std::lock_guard<std::mutex> g(flights_mu);
      auto it = flights.find(key);
      if (it != flights.end() && it->second == f) flights.erase(it);
    }
    std::lock_guard<std::mutex> g(f->mu);
    f->finished = true;
    f->blob = std::move(blob);
    f->cv.notify_all();
  };
  try {
    PulledBlob b = lead([&](const std::string& status, uint64_t done, uint64_t total) {
      {
        std::lock_guard<std::mutex> g(f->mu);
        f->status = status;
        f->done = done;
        f->total = total;
        ++f->updates;
        f->cv.notify_all();
      }
      if (progress) progress(status, done, total);
    });
    finish(b);
    return b;
  } catch (...) {
    finish(std::nullopt);
    throw;
  }
}

// Waits for f; nullopt when it failed.
std::optional<PulledBlob> follow_flight(const std::shared_ptr<Flight>& f, const PullProgress& progress) {
  uint64_t seen = 0;
  std::unique_lock<std::mutex> lock(f->mu);
  for (;;) {
    if (f->finished) return f->blob;
    if (f->updates != seen) {
      seen = f->updates;
      const std::string status = f->status;
      const uint64_t done = f->done, total = f->total;
      lock.unlock();  // progress may take a while (it writes to a client): the leader must not wait for it
      if (progress) progress(status, done, total);
      lock.lock();
      continue;
    }
    if (progress) {
      lock.unlock();
      progress("waiting for another pull of the same source", 0, 0);  // lets a waiter that was told to stop stop
      lock.lock();
    }
    f->cv.wait_for(lock, std::chrono::milliseconds(250));
  }
}

}  // namespace

PulledBlob share_pull(const std::string& key, const std::function<PulledBlob(const PullProgress&)>& lead,
                      const PullProgress& progress) {
  std::shared_ptr<Flight> f;
  bool leader = false;
  // Follows the pull of this key in flight, or starts one (and leads it).
  auto join_or_start = [&] {
    std::lock_guard<std::mutex> g(flights_mu);
    auto it = flights.find(key);
    if (it == flights.end()) {
      f = std::make_shared<Flight>();
      flights.emplace(key, f);
      leader = true;
    } else {
      f = it->second;
    }
  };
  join_or_start();
  if (!leader) {
    if (std::optional<PulledBlob> b = follow_flight(f, progress)) return *b;
    // The pull we waited for failed (perhaps for reasons of its own: its client left, its digest was another):
    // try once more, leading (or following a newer pull that started meanwhile).
    join_or_start();
    if (!leader) {
      if (std::optional<PulledBlob> b = follow_flight(f, progress)) return *b;
      // Twice unlucky: lead without sharing (the .part lock keeps the downloads apart).
      f = std::make_shared<Flight>();
      return lead_flight(key, f, lead, progress);
    }
  }
  return lead_flight(key, f, lead, progress);
}

}  // namespace hearth::store

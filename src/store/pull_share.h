// Pulls of one source at the same time share one download instead of writing one .part file twice. In this
// process the later pulls wait for the first and take its blob; between processes a lock on the .part file
// makes the later one wait, then resume (or start over). The same lock tells a collector which downloads no
// pull is using.
#pragma once
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>

namespace hearth::store {

// An exclusive flock on BASE.lock, for the life of the object, held by the pull that downloads into BASE.part,
// renames it to BASE and moves BASE into the blobs. The lock file is removed (still locked) at the end; a pull
// that waited on it then locks a fresh one.
class PullLock {
 public:
  // Waits for the lock, calling waiting() about every 100 ms meanwhile (it may throw to give up).
  PullLock(const std::string& base, const std::function<void()>& waiting);
  ~PullLock();
  PullLock(const PullLock&) = delete;
  PullLock& operator=(const PullLock&) = delete;

 private:
  PullLock() = default;
  friend size_t remove_unused_download(const std::string& base);
  std::string path_;
  int fd_ = -1;
};

// Removes BASE, BASE.part and BASE.lock unless a pull holds the lock; returns how many files it removed.
size_t remove_unused_download(const std::string& base);

// What a pull's download left in the store: the blob's digest (hex) and size.
struct PulledBlob {
  std::string hex;
  uint64_t size = 0;
};

// Progress of a shared pull: status, bytes done, total (0: unknown).
using PullProgress = std::function<void(const std::string& status, uint64_t done, uint64_t total)>;

// Runs lead(publish) for key unless a pull of key runs in this process already; then waits for that one,
// passing its progress to progress (which may throw to stop waiting), and returns its blob. When the pull it
// waited for fails, this one leads a pull of its own (its error is then its own). lead reports its progress to
// publish, which passes it to progress and to the waiting pulls; exceptions from lead come out of share_pull.
PulledBlob share_pull(const std::string& key, const std::function<PulledBlob(const PullProgress& publish)>& lead,
                      const PullProgress& progress);

}  // namespace hearth::store

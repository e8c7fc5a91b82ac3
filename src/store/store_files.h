// File operations of the model store that must survive a crash: temporary file + fsync + rename, and a
// lock that keeps garbage collection from deleting a blob between its rename and its manifest's.
#pragma once
#include <cstdint>
#include <functional>
#include <string>

namespace hearth::store {

// A name for a temporary file in dir that no other process or thread uses (prefix ".tmp-").
std::string temp_path(const std::string& dir, const std::string& what);
// fsync of a directory, so that a rename in it is durable.
void sync_dir(const std::string& dir);
// Writes content to path atomically (temp file in the same directory, fsync, rename, fsync of the directory).
void write_file_atomic(const std::string& path, const std::string& content);
// Copies src to dst (created, must not exist), hashing on the way; fsyncs dst. progress(done, total) after
// each chunk may throw to abort. On any failure dst is removed and the error rethrown. Returns the SHA-256 hex.
std::string copy_file_hashed(const std::string& src, const std::string& dst,
                             const std::function<void(uint64_t, uint64_t)>& progress);

// An exclusive flock on DIR/.lock for the life of the object (blocks until it has it).
class StoreLock {
 public:
  explicit StoreLock(const std::string& dir);
  ~StoreLock();
  StoreLock(const StoreLock&) = delete;
  StoreLock& operator=(const StoreLock&) = delete;

 private:
  int fd_ = -1;
};

}  // namespace hearth::store

#include "store/store_files.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <vector>

#include "hearth/error.h"
#include "store/sha256.h"

namespace hearth::store {
namespace {

std::string errno_text() { return std::strerror(errno); }

// Writes all of buf, retrying short writes; false with errno set on failure.
bool write_all(int fd, const char* buf, size_t n) {
  while (n > 0) {
    ssize_t w = ::write(fd, buf, n);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) return false;
    buf += w;
    n -= static_cast<size_t>(w);
  }
  return true;
}

// Closes fd on scope exit.
struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

}  // namespace

std::string temp_path(const std::string& dir, const std::string& what) {
  static std::atomic<uint64_t> counter{0};
  return dir + "/.tmp-" + what + "-" + std::to_string(::getpid()) + "-" + std::to_string(counter++);
}

void sync_dir(const std::string& dir) {
  Fd d{::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC)};
  if (d.fd >= 0) ::fsync(d.fd);  // best effort: some file systems refuse fsync on directories
}

void write_file_atomic(const std::string& path, const std::string& content) {
  const std::string dir = std::filesystem::path(path).parent_path().string();
  std::filesystem::create_directories(dir);
  const std::string tmp = temp_path(dir, "write");
  {
    Fd f{::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644)};
    if (f.fd < 0) throw Error("cannot create " + tmp + ": " + errno_text());
    if (!write_all(f.fd, content.data(), content.size()) || ::fsync(f.fd) != 0) {
      const std::string e = errno_text();
      ::unlink(tmp.c_str());
      throw Error("cannot write " + tmp + ": " + e);
    }
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    const std::string e = errno_text();
    ::unlink(tmp.c_str());
    throw Error("cannot rename " + tmp + " to " + path + ": " + e);
  }
  sync_dir(dir);
}

std::string copy_file_hashed(const std::string& src, const std::string& dst,
                             const std::function<void(uint64_t, uint64_t)>& progress) {
  Fd in{::open(src.c_str(), O_RDONLY | O_CLOEXEC)};
  if (in.fd < 0) throw Error("cannot open " + src + ": " + errno_text());
  struct stat st {};
  if (::fstat(in.fd, &st) != 0) throw Error("cannot stat " + src + ": " + errno_text());
  Fd out{::open(dst.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644)};
  if (out.fd < 0) throw Error("cannot create " + dst + ": " + errno_text());
  try {
    const uint64_t total = static_cast<uint64_t>(st.st_size);
    std::vector<char> buf(4u << 20);
    Sha256 hash;
    uint64_t done = 0;
    for (;;) {
      ssize_t n = ::pread(in.fd, buf.data(), buf.size(), static_cast<off_t>(done));
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) throw Error("cannot read " + src + ": " + errno_text());
      if (n == 0) break;
      if (!write_all(out.fd, buf.data(), static_cast<size_t>(n))) throw Error("cannot write " + dst + ": " + errno_text());
      hash.update(buf.data(), static_cast<size_t>(n));
      done += static_cast<uint64_t>(n);
      if (progress) progress(done, total);
    }
    if (done != total) throw Error(src + " changed while it was copied (" + std::to_string(done) + " of " +
                                   std::to_string(total) + " bytes)");
    if (::fsync(out.fd) != 0) throw Error("cannot sync " + dst + ": " + errno_text());
    return hash.hex();
  } catch (...) {
    ::unlink(dst.c_str());
    throw;
  }
}

StoreLock::StoreLock(const std::string& dir) {
  std::filesystem::create_directories(dir);
  const std::string path = dir + "/.lock";
  fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd_ < 0) throw Error("cannot open the store lock " + path + ": " + errno_text());
  while (::flock(fd_, LOCK_EX) != 0) {
    if (errno == EINTR) continue;
    const std::string e = errno_text();
    ::close(fd_);
    throw Error("cannot lock " + path + ": " + e);
  }
}

StoreLock::~StoreLock() {
  if (fd_ >= 0) ::close(fd_);  // closing releases the flock
}

}  // namespace hearth::store

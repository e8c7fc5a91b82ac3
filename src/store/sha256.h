// SHA-256 (OpenSSL EVP): a streaming hasher and a helper that hashes a whole file. Used by the model store
// (content-addressed blobs, download checks) and by split manifests.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

namespace hearth {

// Incremental SHA-256: update() any number of times, then hex() once (64 lowercase hex digits).
class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;
  void update(const void* data, size_t n);
  std::string hex();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// SHA-256 of a byte string, as 64 lowercase hex digits.
std::string sha256_hex(const void* data, size_t n);
// SHA-256 of a file's contents, read with pread in 4 MiB chunks; progress(done, total) after each chunk when
// given. Throws hearth::Error when the file cannot be read.
std::string sha256_file(const std::string& path, const std::function<void(uint64_t, uint64_t)>& progress = {});
// True for 64 hex digits (either case).
bool is_sha256_hex(const std::string& s);

}  // namespace hearth

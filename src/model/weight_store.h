// Binds GGUF tensors by name to backends: in place from the mapping on the CPU, copied to device memory
// otherwise. Checks each tensor's shape and reports expected vs actual.
#pragma once
#include <cstdint>
#include <initializer_list>
#include <string>
#include <utility>
#include <vector>

#include "backend/backend.h"

namespace hearth {

class GgufFile;

class WeightStore {
 public:
  explicit WeightStore(const GgufFile& file) : file_(file) {}
  ~WeightStore();
  WeightStore(const WeightStore&) = delete;
  WeightStore& operator=(const WeightStore&) = delete;

  bool has(const std::string& name) const;
  // shape lists ne[0], ne[1], ... (row length first, as GGUF stores dims).
  Weight get(const std::string& name, std::initializer_list<int64_t> shape, Backend& backend);
  // Bytes of a tensor (0 when absent).
  size_t bytes(const std::string& name) const;
  const GgufFile& file() const { return file_; }

 private:
  const GgufFile& file_;
  std::vector<std::pair<Backend*, void*>> device_copies_;
};

}  // namespace hearth

// Binds GGUF tensors by name to backends: in place from the mapping on the CPU, copied to device memory
// otherwise. Checks each tensor's shape and reports expected vs actual.
#pragma once
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <string>
#include <utility>
#include <vector>

#include "backend/backend.h"

namespace hearth {

class GgufFile;
struct GgufTensor;

class WeightStore {
 public:
  // pack: let backends keep matmul weights in their faster layout (Backend::pack_weight).
  explicit WeightStore(const GgufFile& file, bool pack = true) : file_(file), pack_(pack) {}
  ~WeightStore();
  WeightStore(const WeightStore&) = delete;
  WeightStore& operator=(const WeightStore&) = delete;

  // More files holding tensors (the parts of a `hearth split` model); searched after the first one.
  void add_file(const GgufFile& file) { more_files_.push_back(&file); }
  // Tensors whose bytes live elsewhere (a layer-streaming slot, filled before each use): get() returns data,
  // matrix() leaves them unpacked.
  void place(const std::string& name, const void* data) { placed_.emplace_back(name, data); }

  bool has(const std::string& name) const;
  // The tensor's description in whichever file holds it, or null.
  const GgufTensor* find(const std::string& name) const;
  // shape lists ne[0], ne[1], ... (row length first, as GGUF stores dims).
  Weight get(const std::string& name, std::initializer_list<int64_t> shape, Backend& backend);
  // The tensor as it is in host memory (the mapping, or its streaming slot), shape checked as for get().
  Weight view(const std::string& name, std::initializer_list<int64_t> shape) const;
  // get() for a matrix the model multiplies with (matmul): also packed where the backend has a layout for it.
  Weight matrix(const std::string& name, std::initializer_list<int64_t> shape, Backend& backend);
  // Matrix `index` of a stack of matrices (shape {cols, rows, n}: a mixture of experts' ffn_*_exps), bound as
  // matrix() binds a whole one.
  Weight expert(const std::string& name, std::initializer_list<int64_t> shape, int index, Backend& backend);
  // LoadParams::progress: called with the fraction of total bytes bound so far after each tensor is bound.
  void set_progress(std::function<bool(float)> progress, uint64_t total_bytes);
  // Bytes of a tensor (0 when absent).
  size_t bytes(const std::string& name) const;
  const GgufFile& file() const { return file_; }

 private:
  const void* placed(const std::string& name) const;
  // A matrix of host memory onto the backend: split by rows, or packed / copied (place_weight).
  Weight place_matrix(Weight w, Backend& backend);
  // n more bytes bound: tells progress_; throws when it cancels the load.
  void advance(uint64_t n);

  const GgufFile& file_;
  std::vector<const GgufFile*> more_files_;
  std::vector<std::pair<std::string, const void*>> placed_;
  bool pack_;
  std::vector<std::pair<Backend*, void*>> device_copies_;
  std::function<bool(float)> progress_;
  uint64_t progress_total_ = 0, progress_done_ = 0;
};

}  // namespace hearth

// GGUF v2/v3 reader. The file is mmap'd; tensor data and strings are views into the mapping
// (zero-copy on CPU). Every offset, size, count and string length is checked against the file size.
#pragma once
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "quant/dtype.h"

namespace hearth {

enum class GgufType : uint32_t {
  U8 = 0, I8 = 1, U16 = 2, I16 = 3, U32 = 4, I32 = 5, F32 = 6, BOOL = 7,
  STRING = 8, ARRAY = 9, U64 = 10, I64 = 11, F64 = 12,
};

// Bytes of one value of a fixed-size type; 0 for strings and arrays.
size_t gguf_scalar_size(GgufType t);

struct GgufValue {
  GgufType type = GgufType::U8;
  // Scalars: the integer value widened (u for unsigned and bool, i for signed), f for floats.
  uint64_t u = 0;
  int64_t i = 0;
  double f = 0;
  std::string_view str;
  // Arrays: element type and count; plain elements stay in the file at arr_data,
  // string elements are listed in arr_strings. Nested arrays are validated and counted only.
  GgufType arr_type = GgufType::U8;
  uint64_t arr_count = 0;
  const uint8_t* arr_data = nullptr;
  std::vector<std::string_view> arr_strings;

  bool is_int() const;
  bool is_float() const { return type == GgufType::F32 || type == GgufType::F64; }
};

struct GgufTensor {
  std::string_view name;
  DType type = DType::F32;
  int n_dims = 0;
  int64_t ne[4] = {1, 1, 1, 1};  // ne[0] is the row length (contiguous), as ggml orders dims
  uint64_t offset = 0;            // from the start of the data section
  const uint8_t* data = nullptr;  // into the mapping
  size_t nbytes = 0;
  int64_t n_elements() const { return ne[0] * ne[1] * ne[2] * ne[3]; }
  std::string shape_str() const;  // "[2048, 32000]"
};

class GgufFile {
 public:
  // Maps and validates a file; throws hearth::Error naming the problem.
  static std::unique_ptr<GgufFile> open(const std::string& path);
  // Validates a buffer the caller keeps alive (fuzzing, tests).
  static std::unique_ptr<GgufFile> parse(const uint8_t* data, size_t size, std::string name = "<memory>");
  ~GgufFile();
  GgufFile(const GgufFile&) = delete;
  GgufFile& operator=(const GgufFile&) = delete;

  const std::string& path() const { return path_; }
  uint32_t version() const { return version_; }
  size_t file_size() const { return size_; }
  size_t data_offset() const { return data_offset_; }
  uint32_t alignment() const { return alignment_; }

  // Metadata in file order.
  const std::vector<std::pair<std::string_view, GgufValue>>& metadata() const { return kv_; }
  const GgufValue* find(std::string_view key) const;
  bool has(std::string_view key) const { return find(key) != nullptr; }
  // Typed getters: throw when the key exists with a wrong type; return def when it is missing.
  uint64_t get_uint(std::string_view key, uint64_t def) const;
  double get_float(std::string_view key, double def) const;
  bool get_bool(std::string_view key, bool def) const;
  std::string get_string(std::string_view key, std::string_view def = {}) const;
  // Required variants throw "missing key".
  uint64_t require_uint(std::string_view key) const;
  std::string require_string(std::string_view key) const;
  // Arrays: converted copies. Throw on a wrong element type.
  std::vector<float> get_array_f32(std::string_view key) const;
  std::vector<int64_t> get_array_int(std::string_view key) const;
  const std::vector<std::string_view>& get_array_strings(std::string_view key) const;

  const std::vector<GgufTensor>& tensors() const { return tensors_; }
  const GgufTensor* find_tensor(std::string_view name) const;

 private:
  GgufFile() = default;
  void parse_all();

  std::string path_;
  const uint8_t* base_ = nullptr;
  size_t size_ = 0;
  bool mapped_ = false;
  uint32_t version_ = 0;
  uint32_t alignment_ = 32;
  size_t data_offset_ = 0;
  std::vector<std::pair<std::string_view, GgufValue>> kv_;
  std::vector<GgufTensor> tensors_;
  std::map<std::string_view, size_t> tensor_index_;
};

}  // namespace hearth

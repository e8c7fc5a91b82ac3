// GGUF v3 writer: metadata in insertion order, then tensor infos, then aligned tensor data.
// Tensor data can be given as bytes (owned or borrowed) or as a producer called while the file is
// written, so multi-gigabyte models are written without holding every tensor in memory.
// Files are written atomically: PATH.tmp first, renamed to PATH when complete.
#pragma once
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "gguf/gguf.h"
#include "quant/dtype.h"

namespace hearth {

class GgufWriter {
 public:
  // Fills exactly nbytes bytes at dst with a tensor's data.
  using Producer = std::function<void(uint8_t* dst, size_t nbytes)>;

  GgufWriter() = default;

  // Metadata. Setting a key that exists replaces its value in place (file order is kept).
  void set_u8(std::string_view key, uint8_t v);
  void set_i8(std::string_view key, int8_t v);
  void set_u16(std::string_view key, uint16_t v);
  void set_i16(std::string_view key, int16_t v);
  void set_u32(std::string_view key, uint32_t v);
  void set_i32(std::string_view key, int32_t v);
  void set_u64(std::string_view key, uint64_t v);
  void set_i64(std::string_view key, int64_t v);
  void set_f32(std::string_view key, float v);
  void set_f64(std::string_view key, double v);
  void set_bool(std::string_view key, bool v);
  void set_string(std::string_view key, std::string_view v);
  // Arrays of plain elements: count elements of type elem (a scalar type) read from data.
  void set_array(std::string_view key, GgufType elem, const void* data, uint64_t count);
  void set_array_strings(std::string_view key, const std::vector<std::string>& v);
  void set_array_strings(std::string_view key, const std::vector<std::string_view>& v);
  void set_array_i32(std::string_view key, const std::vector<int32_t>& v);
  void set_array_f32(std::string_view key, const std::vector<float>& v);
  // Copies a value read by GgufFile (nested arrays are not supported and throw).
  void set_value(std::string_view key, const GgufValue& v);
  bool has_key(std::string_view key) const;
  void remove_key(std::string_view key);

  // Data alignment (a power of two, default 32); sets general.alignment. Setting that key directly
  // (as any unsigned integer type) has the same effect.
  void set_alignment(uint32_t alignment);
  uint32_t alignment() const { return alignment_; }

  // Tensors: dims in ggml order (dims[0] is the row length), 1 to 4 of them; dims[0] must be a
  // multiple of the type's block size. The data size must equal the tensor's byte size.
  void add_tensor(std::string_view name, DType type, const std::vector<int64_t>& dims, std::vector<uint8_t> data);
  // Borrowed bytes: the caller keeps them alive until write().
  void add_tensor_view(std::string_view name, DType type, const std::vector<int64_t>& dims, const void* data,
                       size_t nbytes);
  void add_tensor_producer(std::string_view name, DType type, const std::vector<int64_t>& dims, Producer produce);
  size_t n_tensors() const { return tensors_.size(); }
  // Bytes of a tensor of this type and shape (validates the shape).
  static size_t tensor_nbytes(DType type, const std::vector<int64_t>& dims);

  // Writes the file atomically (PATH.tmp, then rename). Throws hearth::Error; the temporary file
  // is removed on failure.
  void write(const std::string& path) const;
  // The whole file in memory (tests, fuzz seeds).
  std::vector<uint8_t> write_to_memory() const;

  class Sink;  // where emitted bytes go (file or memory)

 private:
  struct Kv {
    std::string key;
    GgufType type;
    std::vector<uint8_t> payload;  // the value as serialized after its type tag
  };
  struct Tensor {
    std::string name;
    DType type;
    std::vector<int64_t> dims;
    size_t nbytes;
    std::vector<uint8_t> owned;
    const uint8_t* view = nullptr;
    Producer produce;
  };
  void set_kv(std::string_view key, GgufType type, std::vector<uint8_t> payload);
  Tensor& new_tensor(std::string_view name, DType type, const std::vector<int64_t>& dims);
  void emit(Sink& out) const;

  std::vector<Kv> kv_;
  std::vector<Tensor> tensors_;
  uint32_t alignment_ = 32;
};

}  // namespace hearth

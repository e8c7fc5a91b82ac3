#include "gguf/gguf_writer.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <algorithm>

#include "hearth/error.h"

namespace hearth {
namespace {

constexpr uint32_t kMagic = 0x46554747;  // "GGUF" little-endian
constexpr uint32_t kVersion = 3;
constexpr uint32_t kDefaultAlignment = 32;

template <class T>
void put(std::vector<uint8_t>& out, T v) {
  size_t at = out.size();
  out.resize(at + sizeof(T));
  std::memcpy(out.data() + at, &v, sizeof(T));
}

void put_string(std::vector<uint8_t>& out, std::string_view s) {
  put<uint64_t>(out, s.size());
  out.insert(out.end(), s.begin(), s.end());
}

template <class T>
std::vector<uint8_t> scalar(T v) {
  std::vector<uint8_t> out;
  put(out, v);
  return out;
}

template <class Strings>
std::vector<uint8_t> string_array(const Strings& v) {
  std::vector<uint8_t> out;
  put<uint32_t>(out, static_cast<uint32_t>(GgufType::STRING));
  put<uint64_t>(out, v.size());
  for (const auto& s : v) put_string(out, s);
  return out;
}

uint64_t align_up(uint64_t n, uint64_t a) { return (n + a - 1) / a * a; }

}  // namespace

// Where the bytes go: a buffered file descriptor or a memory vector.
class GgufWriter::Sink {
 public:
  virtual ~Sink() = default;
  virtual void write(const void* p, size_t n) = 0;
  uint64_t pos() const { return pos_; }
  void pad_to(uint64_t alignment) {
    static const uint8_t kZeros[64] = {};
    uint64_t target = align_up(pos_, alignment);
    while (pos_ < target) write(kZeros, static_cast<size_t>(std::min<uint64_t>(target - pos_, sizeof kZeros)));
  }

 protected:
  uint64_t pos_ = 0;
};

void GgufWriter::set_kv(std::string_view key, GgufType type, std::vector<uint8_t> payload) {
  if (key.empty()) throw Error("gguf writer: empty metadata key");
  if (key == "general.alignment") {
    uint32_t a = 0;
    if (type != GgufType::U32) throw Error("gguf writer: general.alignment must be a uint32 (the reader's rule)");
    std::memcpy(&a, payload.data(), sizeof a);
    if (a == 0 || a > (1u << 20) || (a & (a - 1)) != 0)
      throw Error("gguf writer: general.alignment " + std::to_string(a) + " is not a power of two up to 2^20");
    alignment_ = static_cast<uint32_t>(a);
  }
  for (Kv& kv : kv_) {
    if (kv.key == key) {
      kv.type = type;
      kv.payload = std::move(payload);
      return;
    }
  }
  kv_.push_back(Kv{std::string(key), type, std::move(payload)});
}

void GgufWriter::set_u8(std::string_view key, uint8_t v) { set_kv(key, GgufType::U8, scalar(v)); }
void GgufWriter::set_i8(std::string_view key, int8_t v) { set_kv(key, GgufType::I8, scalar(v)); }
void GgufWriter::set_u16(std::string_view key, uint16_t v) { set_kv(key, GgufType::U16, scalar(v)); }
void GgufWriter::set_i16(std::string_view key, int16_t v) { set_kv(key, GgufType::I16, scalar(v)); }
void GgufWriter::set_u32(std::string_view key, uint32_t v) { set_kv(key, GgufType::U32, scalar(v)); }
void GgufWriter::set_i32(std::string_view key, int32_t v) { set_kv(key, GgufType::I32, scalar(v)); }
void GgufWriter::set_u64(std::string_view key, uint64_t v) { set_kv(key, GgufType::U64, scalar(v)); }
void GgufWriter::set_i64(std::string_view key, int64_t v) { set_kv(key, GgufType::I64, scalar(v)); }
void GgufWriter::set_f32(std::string_view key, float v) { set_kv(key, GgufType::F32, scalar(v)); }
void GgufWriter::set_f64(std::string_view key, double v) { set_kv(key, GgufType::F64, scalar(v)); }
void GgufWriter::set_bool(std::string_view key, bool v) {
  set_kv(key, GgufType::BOOL, scalar<uint8_t>(v ? 1 : 0));
}

void GgufWriter::set_string(std::string_view key, std::string_view v) {
  std::vector<uint8_t> out;
  put_string(out, v);
  set_kv(key, GgufType::STRING, std::move(out));
}

void GgufWriter::set_array(std::string_view key, GgufType elem, const void* data, uint64_t count) {
  size_t es = gguf_scalar_size(elem);
  if (es == 0)
    throw Error("gguf writer: array '" + std::string(key) + "': element type " +
                std::to_string(static_cast<uint32_t>(elem)) + " is not a plain scalar type");
  if (count > 0 && !data) throw Error("gguf writer: array '" + std::string(key) + "' has no data");
  std::vector<uint8_t> out;
  put<uint32_t>(out, static_cast<uint32_t>(elem));
  put<uint64_t>(out, count);
  const uint8_t* p = static_cast<const uint8_t*>(data);
  out.insert(out.end(), p, p + count * es);
  set_kv(key, GgufType::ARRAY, std::move(out));
}

void GgufWriter::set_array_strings(std::string_view key, const std::vector<std::string>& v) {
  set_kv(key, GgufType::ARRAY, string_array(v));
}

void GgufWriter::set_array_strings(std::string_view key, const std::vector<std::string_view>& v) {
  set_kv(key, GgufType::ARRAY, string_array(v));
}

void GgufWriter::set_array_i32(std::string_view key, const std::vector<int32_t>& v) {
  set_array(key, GgufType::I32, v.data(), v.size());
}

void GgufWriter::set_array_f32(std::string_view key, const std::vector<float>& v) {
  set_array(key, GgufType::F32, v.data(), v.size());
}

void GgufWriter::set_value(std::string_view key, const GgufValue& v) {
  switch (v.type) {
    case GgufType::U8: set_u8(key, static_cast<uint8_t>(v.u)); return;
    case GgufType::I8: set_i8(key, static_cast<int8_t>(v.i)); return;
    case GgufType::U16: set_u16(key, static_cast<uint16_t>(v.u)); return;
    case GgufType::I16: set_i16(key, static_cast<int16_t>(v.i)); return;
    case GgufType::U32: set_u32(key, static_cast<uint32_t>(v.u)); return;
    case GgufType::I32: set_i32(key, static_cast<int32_t>(v.i)); return;
    case GgufType::U64: set_u64(key, v.u); return;
    case GgufType::I64: set_i64(key, v.i); return;
    case GgufType::F32: set_f32(key, static_cast<float>(v.f)); return;
    case GgufType::F64: set_f64(key, v.f); return;
    case GgufType::BOOL: set_bool(key, v.u != 0); return;
    case GgufType::STRING: set_string(key, v.str); return;
    case GgufType::ARRAY:
      if (v.arr_type == GgufType::STRING) {
        set_array_strings(key, v.arr_strings);
        return;
      }
      if (v.arr_type == GgufType::ARRAY)
        throw Error("gguf writer: key '" + std::string(key) + "': nested arrays cannot be copied");
      set_array(key, v.arr_type, v.arr_data, v.arr_count);
      return;
  }
  throw Error("gguf writer: key '" + std::string(key) + "' has unknown value type " +
              std::to_string(static_cast<uint32_t>(v.type)));
}

bool GgufWriter::has_key(std::string_view key) const {
  for (const Kv& kv : kv_)
    if (kv.key == key) return true;
  return false;
}

void GgufWriter::remove_key(std::string_view key) {
  for (auto it = kv_.begin(); it != kv_.end(); ++it) {
    if (it->key == key) {
      kv_.erase(it);
      if (key == "general.alignment") alignment_ = kDefaultAlignment;
      return;
    }
  }
}

void GgufWriter::set_alignment(uint32_t alignment) { set_u32("general.alignment", alignment); }

size_t GgufWriter::tensor_nbytes(DType type, const std::vector<int64_t>& dims) {
  const DTypeInfo* info = dtype_info(static_cast<uint32_t>(type));
  if (!info) throw Error("unknown tensor type " + std::to_string(static_cast<uint32_t>(type)));
  if (dims.empty() || dims.size() > 4)
    throw Error(std::to_string(dims.size()) + " dimensions (1 to 4 supported)");
  uint64_t n = 1;
  for (size_t d = 0; d < dims.size(); ++d) {
    if (dims[d] <= 0 || dims[d] > (int64_t(1) << 40) || n > (uint64_t(1) << 62) / static_cast<uint64_t>(dims[d]))
      throw Error("dimension " + std::to_string(d) + " = " + std::to_string(dims[d]) + " is invalid");
    n *= static_cast<uint64_t>(dims[d]);
  }
  if (dims[0] % info->block_size != 0)
    throw Error("row length " + std::to_string(dims[0]) + " is not a multiple of the " + std::string(info->name) +
                " block size " + std::to_string(info->block_size));
  return static_cast<size_t>(n / info->block_size) * info->block_bytes;
}

GgufWriter::Tensor& GgufWriter::new_tensor(std::string_view name, DType type, const std::vector<int64_t>& dims) {
  if (name.empty()) throw Error("gguf writer: empty tensor name");
  for (const Tensor& t : tensors_)
    if (t.name == name) throw Error("gguf writer: duplicate tensor name " + std::string(name));
  size_t nbytes;
  try {
    nbytes = tensor_nbytes(type, dims);
  } catch (const Error& e) {
    throw Error("gguf writer: tensor " + std::string(name) + ": " + e.what());
  }
  tensors_.push_back(Tensor{std::string(name), type, dims, nbytes, {}, nullptr, nullptr});
  return tensors_.back();
}

void GgufWriter::add_tensor(std::string_view name, DType type, const std::vector<int64_t>& dims,
                            std::vector<uint8_t> data) {
  Tensor& t = new_tensor(name, type, dims);
  if (data.size() != t.nbytes) {
    std::string msg = "gguf writer: tensor " + t.name + ": " + std::to_string(data.size()) + " bytes of data, " +
                      std::string(dtype_name(type)) + " needs " + std::to_string(t.nbytes);
    tensors_.pop_back();
    throw Error(msg);
  }
  t.owned = std::move(data);
}

void GgufWriter::add_tensor_view(std::string_view name, DType type, const std::vector<int64_t>& dims,
                                 const void* data, size_t nbytes) {
  Tensor& t = new_tensor(name, type, dims);
  if (nbytes != t.nbytes || (!data && nbytes)) {
    std::string msg = "gguf writer: tensor " + t.name + ": " + std::to_string(nbytes) + " bytes of data, " +
                      std::string(dtype_name(type)) + " needs " + std::to_string(t.nbytes);
    tensors_.pop_back();
    throw Error(msg);
  }
  t.view = static_cast<const uint8_t*>(data);
}

void GgufWriter::add_tensor_producer(std::string_view name, DType type, const std::vector<int64_t>& dims,
                                     Producer produce) {
  if (!produce) throw Error("gguf writer: tensor " + std::string(name) + " has no producer");
  new_tensor(name, type, dims).produce = std::move(produce);
}

void GgufWriter::emit(Sink& out) const {
  std::vector<uint8_t> head;
  put<uint32_t>(head, kMagic);
  put<uint32_t>(head, kVersion);
  put<uint64_t>(head, tensors_.size());
  put<uint64_t>(head, kv_.size());
  for (const Kv& kv : kv_) {
    put_string(head, kv.key);
    put<uint32_t>(head, static_cast<uint32_t>(kv.type));
    head.insert(head.end(), kv.payload.begin(), kv.payload.end());
  }
  uint64_t offset = 0;
  for (const Tensor& t : tensors_) {
    put_string(head, t.name);
    put<uint32_t>(head, static_cast<uint32_t>(t.dims.size()));
    for (int64_t d : t.dims) put<uint64_t>(head, static_cast<uint64_t>(d));
    put<uint32_t>(head, static_cast<uint32_t>(t.type));
    put<uint64_t>(head, offset);
    offset = align_up(offset + t.nbytes, alignment_);
  }
  out.write(head.data(), head.size());
  out.pad_to(alignment_);
  uint64_t data_start = out.pos();

  std::vector<uint8_t> buf;
  for (const Tensor& t : tensors_) {
    if (t.produce) {
      buf.assign(t.nbytes, 0);
      t.produce(buf.data(), buf.size());
      out.write(buf.data(), buf.size());
    } else {
      out.write(t.view ? t.view : t.owned.data(), t.nbytes);
    }
    // Pad every tensor (the last too, as llama.cpp does) so each starts at an aligned offset.
    uint64_t rel = out.pos() - data_start;
    uint64_t pad = align_up(rel, alignment_) - rel;
    static const uint8_t kZeros[64] = {};
    while (pad > 0) {
      size_t n = static_cast<size_t>(std::min<uint64_t>(pad, sizeof kZeros));
      out.write(kZeros, n);
      pad -= n;
    }
  }
}

namespace {

class VectorSink : public GgufWriter::Sink {
 public:
  explicit VectorSink(std::vector<uint8_t>& v) : v_(v) {}
  void write(const void* p, size_t n) override {
    const uint8_t* b = static_cast<const uint8_t*>(p);
    v_.insert(v_.end(), b, b + n);
    pos_ += n;
  }

 private:
  std::vector<uint8_t>& v_;
};

class FileSink : public GgufWriter::Sink {
 public:
  FileSink(int fd, const std::string& path) : fd_(fd), path_(path) { buf_.reserve(kBuf); }
  void write(const void* p, size_t n) override {
    const uint8_t* b = static_cast<const uint8_t*>(p);
    pos_ += n;
    if (buf_.size() + n <= kBuf) {
      buf_.insert(buf_.end(), b, b + n);
      return;
    }
    flush();
    if (n >= kBuf) {
      write_all(b, n);
    } else {
      buf_.insert(buf_.end(), b, b + n);
    }
  }
  void flush() {
    write_all(buf_.data(), buf_.size());
    buf_.clear();
  }

 private:
  static constexpr size_t kBuf = size_t(4) << 20;
  void write_all(const uint8_t* p, size_t n) {
    while (n > 0) {
      ssize_t w = ::write(fd_, p, n);
      if (w < 0) {
        if (errno == EINTR) continue;
        throw Error(path_ + ": write failed: " + std::strerror(errno));
      }
      p += w;
      n -= static_cast<size_t>(w);
    }
  }
  int fd_;
  const std::string& path_;
  std::vector<uint8_t> buf_;
};

}  // namespace

std::vector<uint8_t> GgufWriter::write_to_memory() const {
  std::vector<uint8_t> v;
  VectorSink sink(v);
  emit(sink);
  return v;
}

void GgufWriter::write(const std::string& path) const {
  std::string tmp = path + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) throw Error(tmp + ": cannot create: " + std::strerror(errno));
  try {
    FileSink sink(fd, tmp);
    emit(sink);
    sink.flush();
    if (::fsync(fd) != 0) throw Error(tmp + ": fsync failed: " + std::strerror(errno));
    if (::close(fd) != 0) {
      fd = -1;
      throw Error(tmp + ": close failed: " + std::strerror(errno));
    }
    fd = -1;
    if (std::rename(tmp.c_str(), path.c_str()) != 0)
      throw Error(path + ": cannot rename " + tmp + ": " + std::strerror(errno));
  } catch (...) {
    if (fd >= 0) ::close(fd);
    ::unlink(tmp.c_str());
    throw;
  }
}

}  // namespace hearth

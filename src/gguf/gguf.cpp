#include "gguf/gguf.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <set>

#include "hearth/error.h"

namespace hearth {
namespace {

constexpr uint32_t kMagic = 0x46554747;  // "GGUF" little-endian
constexpr uint64_t kMaxDims = 4;
constexpr size_t kMaxTensorName = 64;  // llama.cpp's GGML_MAX_NAME, terminator included

// Bounds-checked cursor over the file bytes.
class Reader {
 public:
  Reader(const uint8_t* p, size_t n, const std::string& name) : p_(p), n_(n), name_(name) {}
  size_t pos() const { return pos_; }
  size_t remaining() const { return n_ - pos_; }
  [[noreturn]] void fail(const std::string& what) const {
    throw Error(name_ + ": " + what + " (at byte " + std::to_string(pos_) + " of " + std::to_string(n_) + ")");
  }
  template <class T>
  T read(const char* what) {
    if (remaining() < sizeof(T)) fail(std::string("truncated file while reading ") + what);
    T v;
    std::memcpy(&v, p_ + pos_, sizeof(T));
    pos_ += sizeof(T);
    return v;
  }
  std::string_view read_string(const char* what) {
    uint64_t len = read<uint64_t>(what);
    if (len > remaining())
      fail(std::string(what) + " has length " + std::to_string(len) + " beyond the end of the file");
    std::string_view s(reinterpret_cast<const char*>(p_ + pos_), len);
    pos_ += len;
    return s;
  }
  const uint8_t* skip(uint64_t bytes, const char* what) {
    if (bytes > remaining()) fail(std::string(what) + " extends beyond the end of the file");
    const uint8_t* at = p_ + pos_;
    pos_ += bytes;
    return at;
  }

 private:
  const uint8_t* p_;
  size_t n_;
  size_t pos_ = 0;
  const std::string& name_;
};

GgufType read_type(Reader& r, const std::string& key) {
  uint32_t t = r.read<uint32_t>("value type");
  if (t > static_cast<uint32_t>(GgufType::F64)) r.fail("key '" + key + "' has unknown value type " + std::to_string(t));
  return static_cast<GgufType>(t);
}

void read_scalar(Reader& r, GgufType t, GgufValue& v) {
  switch (t) {
    case GgufType::U8: v.u = r.read<uint8_t>("u8"); break;
    case GgufType::I8: v.i = r.read<int8_t>("i8"); break;
    case GgufType::U16: v.u = r.read<uint16_t>("u16"); break;
    case GgufType::I16: v.i = r.read<int16_t>("i16"); break;
    case GgufType::U32: v.u = r.read<uint32_t>("u32"); break;
    case GgufType::I32: v.i = r.read<int32_t>("i32"); break;
    case GgufType::U64: v.u = r.read<uint64_t>("u64"); break;
    case GgufType::I64: v.i = r.read<int64_t>("i64"); break;
    case GgufType::F32: v.f = r.read<float>("f32"); break;
    case GgufType::F64: v.f = r.read<double>("f64"); break;
    case GgufType::BOOL: v.u = r.read<uint8_t>("bool") != 0; break;
    default: break;
  }
  if (t == GgufType::U8 || t == GgufType::U16 || t == GgufType::U32 || t == GgufType::U64 || t == GgufType::BOOL)
    v.i = static_cast<int64_t>(v.u);
  else
    v.u = static_cast<uint64_t>(v.i);
}

void read_value(Reader& r, GgufType t, GgufValue& v, const std::string& key, int depth);

void read_array(Reader& r, GgufValue& v, const std::string& key, int depth) {
  if (depth > 4) r.fail("key '" + key + "' nests arrays too deeply");
  v.arr_type = read_type(r, key);
  v.arr_count = r.read<uint64_t>("array count");
  if (size_t es = gguf_scalar_size(v.arr_type)) {
    if (v.arr_count > r.remaining() / es)
      r.fail("array '" + key + "' has " + std::to_string(v.arr_count) + " elements, more than the file holds");
    v.arr_data = r.skip(v.arr_count * es, "array");
    return;
  }
  // Strings and nested arrays take at least 8 bytes per element: bound the count before reserving.
  if (v.arr_count > r.remaining() / 8)
    r.fail("array '" + key + "' has " + std::to_string(v.arr_count) + " elements, more than the file holds");
  if (v.arr_type == GgufType::STRING) {
    v.arr_strings.reserve(v.arr_count);
    for (uint64_t k = 0; k < v.arr_count; ++k) v.arr_strings.push_back(r.read_string("array string"));
    return;
  }
  for (uint64_t k = 0; k < v.arr_count; ++k) {
    GgufValue inner;
    inner.type = GgufType::ARRAY;
    read_array(r, inner, key, depth + 1);
  }
}

void read_value(Reader& r, GgufType t, GgufValue& v, const std::string& key, int depth) {
  v.type = t;
  if (t == GgufType::STRING)
    v.str = r.read_string("string value");
  else if (t == GgufType::ARRAY)
    read_array(r, v, key, depth);
  else
    read_scalar(r, t, v);
}

}  // namespace

size_t gguf_scalar_size(GgufType t) {
  switch (t) {
    case GgufType::U8: case GgufType::I8: case GgufType::BOOL: return 1;
    case GgufType::U16: case GgufType::I16: return 2;
    case GgufType::U32: case GgufType::I32: case GgufType::F32: return 4;
    case GgufType::U64: case GgufType::I64: case GgufType::F64: return 8;
    default: return 0;
  }
}

bool GgufValue::is_int() const {
  switch (type) {
    case GgufType::U8: case GgufType::I8: case GgufType::U16: case GgufType::I16:
    case GgufType::U32: case GgufType::I32: case GgufType::U64: case GgufType::I64: case GgufType::BOOL:
      return true;
    default: return false;
  }
}

std::string GgufTensor::shape_str() const {
  std::string s = "[";
  for (int d = 0; d < n_dims; ++d) s += (d ? ", " : "") + std::to_string(ne[d]);
  return s + "]";
}

std::unique_ptr<GgufFile> GgufFile::open(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw Error(path + ": cannot open: " + std::strerror(errno));
  struct stat st {};
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    throw Error(path + ": not a regular file");
  }
  std::unique_ptr<GgufFile> f(new GgufFile());
  f->path_ = path;
  f->size_ = static_cast<size_t>(st.st_size);
  if (f->size_ < 8) {
    ::close(fd);
    throw Error(path + ": file is too small to be a GGUF file (" + std::to_string(f->size_) + " bytes)");
  }
  void* p = mmap(nullptr, f->size_, PROT_READ, MAP_PRIVATE, fd, 0);
  ::close(fd);
  if (p == MAP_FAILED) throw Error(path + ": mmap failed: " + std::strerror(errno));
  f->base_ = static_cast<const uint8_t*>(p);
  f->mapped_ = true;
  f->parse_all();
  return f;
}

std::unique_ptr<GgufFile> GgufFile::parse(const uint8_t* data, size_t size, std::string name) {
  std::unique_ptr<GgufFile> f(new GgufFile());
  f->path_ = std::move(name);
  f->base_ = data;
  f->size_ = size;
  f->parse_all();
  return f;
}

GgufFile::~GgufFile() {
  if (mapped_) munmap(const_cast<uint8_t*>(base_), size_);
}

void GgufFile::parse_all() {
  Reader r(base_, size_, path_);
  if (r.read<uint32_t>("magic") != kMagic) r.fail("not a GGUF file (bad magic)");
  version_ = r.read<uint32_t>("version");
  if (version_ != 2 && version_ != 3)
    r.fail("unsupported GGUF version " + std::to_string(version_) + " (2 and 3 are supported)");
  uint64_t n_tensors = r.read<uint64_t>("tensor count");
  uint64_t n_kv = r.read<uint64_t>("metadata count");
  // Each key-value takes at least 12 bytes, each tensor info at least 24: bound counts by the file size.
  if (n_kv > r.remaining() / 12) r.fail("metadata count " + std::to_string(n_kv) + " is larger than the file allows");
  if (n_tensors > r.remaining() / 24)
    r.fail("tensor count " + std::to_string(n_tensors) + " is larger than the file allows");

  kv_.reserve(n_kv);
  std::set<std::string_view> seen_keys;
  for (uint64_t k = 0; k < n_kv; ++k) {
    std::string_view key = r.read_string("metadata key");
    std::string keys(key);
    if (!seen_keys.insert(key).second) r.fail("duplicate metadata key '" + keys + "'");
    GgufValue v;
    read_value(r, read_type(r, keys), v, keys, 0);
    kv_.emplace_back(key, std::move(v));
  }

  if (const GgufValue* a = find("general.alignment")) {
    if (a->type != GgufType::U32 || a->u == 0 || a->u > (1u << 20) || (a->u & (a->u - 1)) != 0)
      r.fail("general.alignment must be a uint32 power of two");
    alignment_ = static_cast<uint32_t>(a->u);
  }

  tensors_.reserve(n_tensors);
  for (uint64_t k = 0; k < n_tensors; ++k) {
    GgufTensor t;
    t.name = r.read_string("tensor name");
    std::string name(t.name);
    if (t.name.size() >= kMaxTensorName)
      r.fail("tensor name '" + name.substr(0, 80) + "...' is " + std::to_string(t.name.size()) + " bytes (at most " +
             std::to_string(kMaxTensorName - 1) + ")");
    uint32_t n_dims = r.read<uint32_t>("tensor dimension count");
    if (n_dims == 0 || n_dims > kMaxDims)
      r.fail("tensor " + name + ": " + std::to_string(n_dims) + " dimensions (1 to 4 supported)");
    t.n_dims = static_cast<int>(n_dims);
    uint64_t n_el = 1;
    for (uint32_t d = 0; d < n_dims; ++d) {
      uint64_t ne = r.read<uint64_t>("tensor dimension");
      if (ne == 0 || ne > (1ull << 40) || n_el > (1ull << 62) / ne)
        r.fail("tensor " + name + ": dimension " + std::to_string(d) + " = " + std::to_string(ne) + " is invalid");
      t.ne[d] = static_cast<int64_t>(ne);
      n_el *= ne;
    }
    uint32_t type = r.read<uint32_t>("tensor type");
    const DTypeInfo* info = dtype_info(type);
    if (!info) r.fail("tensor " + name + ": unknown tensor type " + std::to_string(type));
    t.type = static_cast<DType>(type);
    if (t.ne[0] % info->block_size != 0)
      r.fail("tensor " + name + ": row length " + std::to_string(t.ne[0]) + " is not a multiple of the " +
             std::string(info->name) + " block size " + std::to_string(info->block_size));
    t.nbytes = static_cast<size_t>(n_el / info->block_size) * info->block_bytes;
    t.offset = r.read<uint64_t>("tensor offset");
    if (t.offset % alignment_ != 0) r.fail("tensor " + name + ": offset " + std::to_string(t.offset) + " is not aligned");
    if (tensor_index_.count(t.name)) r.fail("duplicate tensor name " + name);
    tensor_index_[t.name] = tensors_.size();
    tensors_.push_back(t);
  }

  size_t header_end = r.pos();
  data_offset_ = (header_end + alignment_ - 1) / alignment_ * alignment_;
  if (n_tensors > 0 && data_offset_ > size_) r.fail("data section starts beyond the end of the file");
  for (GgufTensor& t : tensors_) {
    size_t avail = size_ > data_offset_ ? size_ - data_offset_ : 0;
    if (t.offset > avail || t.nbytes > avail - t.offset)
      throw Error(path_ + ": tensor " + std::string(t.name) + " (" + t.shape_str() + ", " +
                  std::string(dtype_name(t.type)) + ") at offset " + std::to_string(t.offset) + " needs " +
                  std::to_string(t.nbytes) + " bytes, past the end of the file (" + std::to_string(size_) +
                  " bytes); the file may be truncated");
    t.data = base_ + data_offset_ + t.offset;
  }
  // Tensors may come in any order, but their data must not overlap (a writer's bug or a hostile file).
  std::vector<const GgufTensor*> by_offset;
  for (const GgufTensor& t : tensors_) by_offset.push_back(&t);
  std::sort(by_offset.begin(), by_offset.end(), [](auto* a, auto* b) { return a->offset < b->offset; });
  for (size_t k = 1; k < by_offset.size(); ++k) {
    const GgufTensor &a = *by_offset[k - 1], &b = *by_offset[k];
    if (a.offset + a.nbytes > b.offset)
      throw Error(path_ + ": tensors " + std::string(a.name) + " and " + std::string(b.name) +
                  " overlap (data at offsets " + std::to_string(a.offset) + " + " + std::to_string(a.nbytes) +
                  " bytes and " + std::to_string(b.offset) + ")");
  }
}

const GgufValue* GgufFile::find(std::string_view key) const {
  for (const auto& [k, v] : kv_)
    if (k == key) return &v;
  return nullptr;
}

namespace {
[[noreturn]] void wrong_type(const std::string& path, std::string_view key, const char* want) {
  throw Error(path + ": metadata key '" + std::string(key) + "' is not " + want);
}
}  // namespace

uint64_t GgufFile::get_uint(std::string_view key, uint64_t def) const {
  const GgufValue* v = find(key);
  if (!v) return def;
  if (!v->is_int()) wrong_type(path_, key, "an integer");
  bool is_signed = v->type == GgufType::I8 || v->type == GgufType::I16 || v->type == GgufType::I32 ||
                   v->type == GgufType::I64;
  if (is_signed && v->i < 0) wrong_type(path_, key, "a non-negative integer");
  return v->u;
}

double GgufFile::get_float(std::string_view key, double def) const {
  const GgufValue* v = find(key);
  if (!v) return def;
  if (v->is_float()) return v->f;
  if (v->is_int()) return static_cast<double>(v->i);
  wrong_type(path_, key, "a number");
}

bool GgufFile::get_bool(std::string_view key, bool def) const {
  const GgufValue* v = find(key);
  if (!v) return def;
  if (!v->is_int()) wrong_type(path_, key, "a boolean");
  return v->u != 0;
}

std::string GgufFile::get_string(std::string_view key, std::string_view def) const {
  const GgufValue* v = find(key);
  if (!v) return std::string(def);
  if (v->type != GgufType::STRING) wrong_type(path_, key, "a string");
  return std::string(v->str);
}

uint64_t GgufFile::require_uint(std::string_view key) const {
  if (!has(key)) throw Error(path_ + ": missing metadata key '" + std::string(key) + "'");
  return get_uint(key, 0);
}

std::string GgufFile::require_string(std::string_view key) const {
  if (!has(key)) throw Error(path_ + ": missing metadata key '" + std::string(key) + "'");
  return get_string(key);
}

std::vector<float> GgufFile::get_array_f32(std::string_view key) const {
  std::vector<float> out;
  const GgufValue* v = find(key);
  if (!v) return out;
  if (v->type != GgufType::ARRAY || (v->arr_type != GgufType::F32 && v->arr_type != GgufType::F64))
    wrong_type(path_, key, "an array of floats");
  out.resize(v->arr_count);
  for (uint64_t k = 0; k < v->arr_count; ++k) {
    if (v->arr_type == GgufType::F32) {
      std::memcpy(&out[k], v->arr_data + 4 * k, 4);
    } else {
      double d;
      std::memcpy(&d, v->arr_data + 8 * k, 8);
      out[k] = static_cast<float>(d);
    }
  }
  return out;
}

std::vector<int64_t> GgufFile::get_array_int(std::string_view key) const {
  std::vector<int64_t> out;
  const GgufValue* v = find(key);
  if (!v) return out;
  if (v->type != GgufType::ARRAY) wrong_type(path_, key, "an array of integers");
  size_t es = gguf_scalar_size(v->arr_type);
  if (es == 0 || v->arr_type == GgufType::F32 || v->arr_type == GgufType::F64)
    wrong_type(path_, key, "an array of integers");
  out.resize(v->arr_count);
  for (uint64_t k = 0; k < v->arr_count; ++k) {
    GgufValue e;
    Reader r(v->arr_data + es * k, es, path_);
    read_scalar(r, v->arr_type, e);
    out[k] = e.i;
  }
  return out;
}

const std::vector<std::string_view>& GgufFile::get_array_strings(std::string_view key) const {
  static const std::vector<std::string_view> kEmpty;
  const GgufValue* v = find(key);
  if (!v) return kEmpty;
  if (v->type != GgufType::ARRAY || v->arr_type != GgufType::STRING) wrong_type(path_, key, "an array of strings");
  return v->arr_strings;
}

const GgufTensor* GgufFile::find_tensor(std::string_view name) const {
  auto it = tensor_index_.find(name);
  return it == tensor_index_.end() ? nullptr : &tensors_[it->second];
}

}  // namespace hearth

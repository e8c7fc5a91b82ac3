// libFuzzer target: GgufFile::parse on arbitrary bytes must either succeed with every view inside
// the buffer or throw hearth::Error. Anything else (a crash, a sanitizer report, another exception
// type escaping) is a bug. Parsed files are also copied through GgufWriter and parsed again.
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "gguf/gguf.h"
#include "gguf/gguf_writer.h"
#include "hearth/error.h"

namespace {

volatile uint8_t g_sink;

void touch(const void* p, size_t n) {
  if (n == 0) return;
  const uint8_t* b = static_cast<const uint8_t*>(p);
  g_sink = b[0] ^ b[n - 1];
}

void exercise(const hearth::GgufFile& f, const uint8_t* data, size_t size) {
  using hearth::GgufType;
  for (const auto& [key, v] : f.metadata()) {
    touch(key.data(), key.size());
    if (v.type == GgufType::STRING) touch(v.str.data(), v.str.size());
    try {
      if (v.is_int()) (void)f.get_uint(key, 0);
      if (v.is_float()) (void)f.get_float(key, 0);
      if (v.type == GgufType::ARRAY) {
        if (v.arr_type == GgufType::STRING) {
          for (auto s : f.get_array_strings(key)) touch(s.data(), s.size());
        } else if (v.arr_type == GgufType::F32 || v.arr_type == GgufType::F64) {
          (void)f.get_array_f32(key);
        } else if (v.arr_type != GgufType::ARRAY) {
          (void)f.get_array_int(key);
        }
      }
    } catch (const hearth::Error&) {
    }
  }
  for (const hearth::GgufTensor& t : f.tensors()) {
    if (t.nbytes && (t.data < data || t.data + t.nbytes > data + size)) __builtin_trap();
    touch(t.data, t.nbytes);
    if (f.find_tensor(t.name) == nullptr) __builtin_trap();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::unique_ptr<hearth::GgufFile> f;
  try {
    f = hearth::GgufFile::parse(data, size, "fuzz");
  } catch (const hearth::Error&) {
    return 0;
  }
  exercise(*f, data, size);
  // Round trip through the writer: whatever the reader accepts and the writer can express must
  // come back with the same metadata and tensors.
  std::vector<uint8_t> copy;
  try {
    hearth::GgufWriter w;
    for (const auto& [k, v] : f->metadata()) w.set_value(k, v);
    for (const hearth::GgufTensor& t : f->tensors())
      w.add_tensor_view(t.name, t.type, std::vector<int64_t>(t.ne, t.ne + t.n_dims), t.data, t.nbytes);
    copy = w.write_to_memory();
  } catch (const hearth::Error&) {
    return 0;  // e.g. nested arrays, duplicate keys, empty names: the writer refuses them
  }
  auto g = hearth::GgufFile::parse(copy.data(), copy.size(), "fuzz-copy");
  if (g->tensors().size() != f->tensors().size()) __builtin_trap();
  for (size_t i = 0; i < f->tensors().size(); ++i) {
    const auto& a = f->tensors()[i];
    const auto& b = g->tensors()[i];
    if (a.name != b.name || a.nbytes != b.nbytes || std::memcmp(a.data, b.data, a.nbytes) != 0) __builtin_trap();
  }
  return 0;
}

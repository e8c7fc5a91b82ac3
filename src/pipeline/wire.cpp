#include "pipeline/wire.h"

#include <algorithm>
#include <cstring>

#include "hearth/error.h"
#include "quant/blocks.h"
#include "quant/fp16.h"
#include "quant/quant.h"

namespace hearth::pipeline {
namespace {

constexpr uint32_t kMagic = 0x48545248;  // "HRTH" little-endian
constexpr uint16_t kVersion = 3;
constexpr int kQ8Block = 32;

// Fixed part of every message; counts say how many int32 arrays and payload bytes follow.
struct Header {
  uint32_t magic;
  uint16_t version;
  uint8_t kind;
  uint8_t wire;
  int32_t micro_batch;
  int32_t n;       // tokens: pos[n], seqs[n]
  int32_t n_rows;  // rows[n_rows]
  int32_t n_cols;
  int32_t n_data_rows;  // rows of payload
  uint32_t text_bytes;
  int32_t lap;  // looped pipeline: the lap a Hidden micro-batch is on
  uint64_t payload_bytes;
  int32_t n_ints;  // ints[n_ints]
  int32_t reserved;
};
static_assert(sizeof(Header) == 56);

int padded_cols(int n_cols) { return (n_cols + kQ8Block - 1) / kQ8Block * kQ8Block; }

}  // namespace

WireType parse_wire_type(const std::string& name) {
  std::string s = name;
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  if (s == "f32") return WireType::F32;
  if (s == "f16") return WireType::F16;
  if (s == "q8_0" || s == "q8") return WireType::Q8_0;
  throw Error("unknown wire type '" + name + "' (expected f32, f16 or q8_0)");
}

const char* wire_type_name(WireType t) {
  switch (t) {
    case WireType::F32:
      return "f32";
    case WireType::F16:
      return "f16";
    case WireType::Q8_0:
      return "q8_0";
  }
  return "?";
}

const char* msg_kind_name(MsgKind k) {
  switch (k) {
    case MsgKind::Hidden:
      return "hidden";
    case MsgKind::Logits:
      return "logits";
    case MsgKind::Clear:
      return "clear";
    case MsgKind::Stop:
      return "stop";
    case MsgKind::Error:
      return "error";
    case MsgKind::Control:
      return "control";
  }
  return "?";
}

size_t wire_bytes(WireType t, int n_rows, int n_cols) {
  const size_t rows = std::max(0, n_rows), cols = std::max(0, n_cols);
  switch (t) {
    case WireType::F32:
      return rows * cols * 4;
    case WireType::F16:
      return rows * cols * 2;
    case WireType::Q8_0:
      return rows * (padded_cols(n_cols) / kQ8Block) * sizeof(q::BlockQ8_0);
  }
  return 0;
}

void wire_encode(WireType t, const float* src, int n_rows, int n_cols, uint8_t* dst) {
  const size_t n = static_cast<size_t>(n_rows) * n_cols;
  switch (t) {
    case WireType::F32:
      std::memcpy(dst, src, n * 4);
      return;
    case WireType::F16:
      for (size_t i = 0; i < n; ++i) {
        uint16_t h = f32_to_fp16(src[i]);
        std::memcpy(dst + 2 * i, &h, 2);
      }
      return;
    case WireType::Q8_0: {
      // The reference quantizer wants whole blocks: a row's tail block is padded with zeros.
      const int pc = padded_cols(n_cols);
      const size_t row_bytes = wire_bytes(t, 1, n_cols);
      std::vector<float> row(pc, 0.0f);
      for (int r = 0; r < n_rows; ++r) {
        std::copy(src + static_cast<size_t>(r) * n_cols, src + static_cast<size_t>(r + 1) * n_cols, row.begin());
        quantize_row_ref(DType::Q8_0, row.data(), dst + r * row_bytes, pc);
      }
      return;
    }
  }
}

void wire_decode(WireType t, const uint8_t* src, int n_rows, int n_cols, float* dst) {
  const size_t n = static_cast<size_t>(n_rows) * n_cols;
  switch (t) {
    case WireType::F32:
      std::memcpy(dst, src, n * 4);
      return;
    case WireType::F16:
      for (size_t i = 0; i < n; ++i) {
        uint16_t h;
        std::memcpy(&h, src + 2 * i, 2);
        dst[i] = fp16_to_f32(h);
      }
      return;
    case WireType::Q8_0: {
      const int pc = padded_cols(n_cols);
      const size_t row_bytes = wire_bytes(t, 1, n_cols);
      std::vector<float> row(pc);
      for (int r = 0; r < n_rows; ++r) {
        dequantize_row_ref(DType::Q8_0, src + r * row_bytes, row.data(), pc);
        std::copy(row.begin(), row.begin() + n_cols, dst + static_cast<size_t>(r) * n_cols);
      }
      return;
    }
  }
}

std::vector<uint8_t> encode_message(const Message& msg) {
  const int n = msg.n();
  if (static_cast<int>(msg.seqs.size()) != n)
    throw Error("pipeline message: " + std::to_string(msg.seqs.size()) + " sequence ids for " + std::to_string(n) +
                " positions");
  const int n_rows = static_cast<int>(msg.rows.size());
  int data_rows = 0;
  if (!msg.data.empty()) {
    if (msg.n_cols <= 0 || msg.data.size() % msg.n_cols != 0)
      throw Error("pipeline message: " + std::to_string(msg.data.size()) + " values are not rows of " +
                  std::to_string(msg.n_cols));
    data_rows = static_cast<int>(msg.data.size() / msg.n_cols);
  }
  Header h{};
  h.magic = kMagic;
  h.version = kVersion;
  h.kind = static_cast<uint8_t>(msg.kind);
  h.wire = static_cast<uint8_t>(msg.wire);
  h.micro_batch = msg.micro_batch;
  h.n = n;
  h.n_rows = n_rows;
  h.n_cols = msg.n_cols;
  h.n_data_rows = data_rows;
  h.text_bytes = static_cast<uint32_t>(msg.text.size());
  h.lap = msg.lap;
  h.n_ints = static_cast<int32_t>(msg.ints.size());
  h.payload_bytes = wire_bytes(msg.wire, data_rows, msg.n_cols);
  const size_t ints = 4 * (2 * static_cast<size_t>(n) + n_rows + msg.ints.size());
  std::vector<uint8_t> out(sizeof(Header) + ints + h.text_bytes + h.payload_bytes);
  uint8_t* p = out.data();
  std::memcpy(p, &h, sizeof h);
  p += sizeof h;
  auto put = [&](const std::vector<int32_t>& v) {
    if (!v.empty()) std::memcpy(p, v.data(), v.size() * 4);
    p += v.size() * 4;
  };
  put(msg.pos);
  put(msg.seqs);
  put(msg.rows);
  put(msg.ints);
  if (!msg.text.empty()) std::memcpy(p, msg.text.data(), msg.text.size());
  p += msg.text.size();
  if (data_rows > 0) wire_encode(msg.wire, msg.data.data(), data_rows, msg.n_cols, p);
  return out;
}

Message decode_message(const uint8_t* bytes, size_t size) {
  Header h;
  if (size < sizeof h) throw Error("pipeline message: " + std::to_string(size) + " bytes, shorter than a header");
  std::memcpy(&h, bytes, sizeof h);
  if (h.magic != kMagic) throw Error("pipeline message: bad magic (not a hearth pipeline message)");
  if (h.version != kVersion)
    throw Error("pipeline message: version " + std::to_string(h.version) + ", this hearth speaks " +
                std::to_string(kVersion) + " (every rank must run the same hearth)");
  if (h.kind < static_cast<uint8_t>(MsgKind::Hidden) || h.kind > static_cast<uint8_t>(MsgKind::Control))
    throw Error("pipeline message: unknown kind " + std::to_string(h.kind));
  if (h.wire > static_cast<uint8_t>(WireType::Q8_0))
    throw Error("pipeline message: unknown wire type " + std::to_string(h.wire));
  const int64_t limit = int64_t{1} << 30;
  if (h.n < 0 || h.n_rows < 0 || h.n_cols < 0 || h.n_data_rows < 0 || h.n_ints < 0 || h.n > limit ||
      h.n_rows > limit || h.n_cols > limit || h.n_data_rows > limit || h.n_ints > limit)
    throw Error("pipeline message: negative or huge counts");
  if (h.lap < 0 || h.lap > 65535) throw Error("pipeline message: lap " + std::to_string(h.lap) + " out of range");
  Message m;
  m.lap = h.lap;
  m.kind = static_cast<MsgKind>(h.kind);
  m.wire = static_cast<WireType>(h.wire);
  m.micro_batch = h.micro_batch;
  m.n_cols = h.n_cols;
  const uint64_t ints = 4 * (2 * static_cast<uint64_t>(h.n) + h.n_rows + static_cast<uint64_t>(h.n_ints));
  const uint64_t payload = wire_bytes(m.wire, h.n_data_rows, h.n_cols);
  if (h.payload_bytes != payload)
    throw Error("pipeline message: payload of " + std::to_string(h.payload_bytes) + " bytes, expected " +
                std::to_string(payload));
  const uint64_t want = sizeof h + ints + h.text_bytes + payload;
  if (want != size)
    throw Error("pipeline message: " + std::to_string(size) + " bytes, header says " + std::to_string(want));
  const uint8_t* p = bytes + sizeof h;
  auto get = [&](std::vector<int32_t>& v, int count) {
    v.resize(count);
    if (count) std::memcpy(v.data(), p, 4 * static_cast<size_t>(count));
    p += 4 * static_cast<size_t>(count);
  };
  get(m.pos, h.n);
  get(m.seqs, h.n);
  get(m.rows, h.n_rows);
  get(m.ints, h.n_ints);
  m.text.assign(reinterpret_cast<const char*>(p), h.text_bytes);
  p += h.text_bytes;
  m.data.resize(static_cast<size_t>(h.n_data_rows) * h.n_cols);
  if (h.n_data_rows > 0) wire_decode(m.wire, p, h.n_data_rows, h.n_cols, m.data.data());
  return m;
}

}  // namespace hearth::pipeline

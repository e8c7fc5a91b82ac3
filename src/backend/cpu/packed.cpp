#include "backend/cpu/packed.h"

#include <cstring>
#include <type_traits>

#include "quant/blocks.h"

namespace hearth::cpu {

using namespace hearth::q;

namespace {

template <class P>
size_t group_bytes_of(int64_t cols) {
  return static_cast<size_t>(cols / QK) * sizeof(P);
}

// Fills or reads one packed block from / to the 8 file blocks of its rows (nullptr: a padding row).
template <class P, class B, int kChunks, uint8_t kBias>
void pack_block(const B* const rows[kPackRows], P& p) {
  std::memset(&p, 0, sizeof p);
  for (int r = 0; r < kPackRows; ++r) {
    if (!rows[r]) continue;
    p.d[r] = rows[r]->d;
    for (int c = 0; c < kChunks; ++c)
      for (int j = 0; j < 4; ++j) p.qs[c][r][j] = static_cast<uint8_t>(rows[r]->qs[4 * c + j] + kBias);
  }
}

template <class P, class B, int kChunks, uint8_t kBias>
void unpack_block(const P& p, int r, B& b) {
  b.d = p.d[r];
  for (int c = 0; c < kChunks; ++c)
    for (int j = 0; j < 4; ++j) b.qs[4 * c + j] = static_cast<std::remove_cvref_t<decltype(b.qs[0])>>(p.qs[c][r][j] - kBias);
}

template <class P, class B, int kChunks, uint8_t kBias>
void pack_group_of(const uint8_t* src, int64_t rows, int64_t cols, int64_t group, uint8_t* dst) {
  const int64_t nb = cols / QK;
  const size_t rb = static_cast<size_t>(nb) * sizeof(B);
  const B* row[kPackRows];
  P* out = reinterpret_cast<P*>(dst);
  for (int64_t b = 0; b < nb; ++b) {
    for (int r = 0; r < kPackRows; ++r) {
      const int64_t i = group * kPackRows + r;
      row[r] = i < rows ? reinterpret_cast<const B*>(src + i * rb) + b : nullptr;
    }
    pack_block<P, B, kChunks, kBias>(row, out[b]);
  }
}

template <class P, class B, int kChunks, uint8_t kBias>
void unpack_row_of(const uint8_t* packed, int64_t cols, int64_t row, uint8_t* dst) {
  const int64_t nb = cols / QK;
  const P* g = reinterpret_cast<const P*>(packed + (row / kPackRows) * group_bytes_of<P>(cols));
  B* out = reinterpret_cast<B*>(dst);
  for (int64_t b = 0; b < nb; ++b) unpack_block<P, B, kChunks, kBias>(g[b], static_cast<int>(row % kPackRows), out[b]);
}

}  // namespace

bool packable(DType t) { return t == DType::Q4_0 || t == DType::Q8_0; }

size_t packed_group_bytes(DType t, int64_t cols) {
  switch (t) {
    case DType::Q4_0: return group_bytes_of<PackedQ4_0>(cols);
    case DType::Q8_0: return group_bytes_of<PackedQ8_0>(cols);
    default: return 0;
  }
}

size_t packed_bytes(DType t, int64_t rows, int64_t cols) {
  return static_cast<size_t>((rows + kPackRows - 1) / kPackRows) * packed_group_bytes(t, cols);
}

void pack_group(DType t, const uint8_t* src, int64_t rows, int64_t cols, int64_t group, uint8_t* dst) {
  switch (t) {
    case DType::Q4_0: return pack_group_of<PackedQ4_0, BlockQ4_0, 4, 0>(src, rows, cols, group, dst);
    case DType::Q8_0: return pack_group_of<PackedQ8_0, BlockQ8_0, 8, 128>(src, rows, cols, group, dst);
    default: return;
  }
}

void unpack_row(DType t, const uint8_t* packed, int64_t cols, int64_t row, uint8_t* dst) {
  switch (t) {
    case DType::Q4_0: return unpack_row_of<PackedQ4_0, BlockQ4_0, 4, 0>(packed, cols, row, dst);
    case DType::Q8_0: return unpack_row_of<PackedQ8_0, BlockQ8_0, 8, 128>(packed, cols, row, dst);
    default: return;
  }
}

}  // namespace hearth::cpu

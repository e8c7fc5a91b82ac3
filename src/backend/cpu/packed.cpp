#include "backend/cpu/packed.h"

#include <cstring>

#include "quant/blocks.h"

namespace hearth::cpu {

using namespace hearth::q;

namespace {

// Each layout: its file block type B, elements per block, and pack (8 file blocks, nullptr for a padding row)
// / unpack (one row's file block) of one packed block.

// Q4_0 and Q8_0: 4-byte chunks of qs, Q8_0's biased to unsigned.
template <class PB, class B, int kChunks, uint8_t kBias>
struct Legacy {
  using P = PB;
  using Block = B;
  static constexpr int kElems = QK;
  static void pack(const B* const rows[kPackRows], P& p) {
    for (int r = 0; r < kPackRows; ++r) {
      if (!rows[r]) continue;
      p.d[r] = rows[r]->d;
      for (int c = 0; c < kChunks; ++c)
        for (int j = 0; j < 4; ++j) p.qs[c][r][j] = static_cast<uint8_t>(rows[r]->qs[4 * c + j] + kBias);
    }
  }
  static void unpack(const P& p, int r, B& b) {
    b.d = p.d[r];
    for (int c = 0; c < kChunks; ++c)
      for (int j = 0; j < 4; ++j)
        b.qs[4 * c + j] = static_cast<std::remove_cvref_t<decltype(b.qs[0])>>(p.qs[c][r][j] - kBias);
  }
};

// The fields Q4_K and Q5_K share (d, dmin, 6-bit scales and mins, nibbles).
template <class P, class B>
void pack_k4_fields(const B& b, int r, P& p) {
  p.d[r] = b.d;
  p.dmin[r] = b.dmin;
  for (int s = 0; s < 8; ++s) scale_min_k4(s, b.scales, &p.scales[s][r], &p.mins[s / 2][r][s % 2]);
  for (int j = 0; j < 4; ++j)
    for (int c = 0; c < 8; ++c) std::memcpy(p.qs[j][c][r], b.qs + 32 * j + 4 * c, 4);
}
template <class P, class B>
void unpack_k4_fields(const P& p, int r, B& b) {
  b.d = p.d[r];
  b.dmin = p.dmin[r];
  uint8_t sc[8], m[8];
  for (int s = 0; s < 8; ++s) sc[s] = p.scales[s][r], m[s] = p.mins[s / 2][r][s % 2];
  for (int j = 0; j < 4; ++j) {  // the inverse of scale_min_k4
    b.scales[j] = static_cast<uint8_t>(sc[j] | (sc[j + 4] >> 4) << 6);
    b.scales[j + 4] = static_cast<uint8_t>(m[j] | (m[j + 4] >> 4) << 6);
    b.scales[j + 8] = static_cast<uint8_t>((sc[j + 4] & 0xf) | (m[j + 4] & 0xf) << 4);
  }
  for (int j = 0; j < 4; ++j)
    for (int c = 0; c < 8; ++c) std::memcpy(b.qs + 32 * j + 4 * c, p.qs[j][c][r], 4);
}

struct Q4_K {
  using P = PackedQ4_K;
  using Block = BlockQ4_K;
  static constexpr int kElems = QK_K;
  static void pack(const BlockQ4_K* const rows[kPackRows], P& p) {
    for (int r = 0; r < kPackRows; ++r)
      if (rows[r]) pack_k4_fields(*rows[r], r, p);
  }
  static void unpack(const P& p, int r, BlockQ4_K& b) { unpack_k4_fields(p, r, b); }
};

struct Q5_K {
  using P = PackedQ5_K;
  using Block = BlockQ5_K;
  static constexpr int kElems = QK_K;
  static void pack(const BlockQ5_K* const rows[kPackRows], P& p) {
    for (int r = 0; r < kPackRows; ++r) {
      if (!rows[r]) continue;
      pack_k4_fields(*rows[r], r, p);
      for (int c = 0; c < 8; ++c) std::memcpy(p.qh[c][r], rows[r]->qh + 4 * c, 4);
    }
  }
  static void unpack(const P& p, int r, BlockQ5_K& b) {
    unpack_k4_fields(p, r, b);
    for (int c = 0; c < 8; ++c) std::memcpy(b.qh + 4 * c, p.qh[c][r], 4);
  }
};

// Q2_K and Q3_K quants: chunk c of half h is qs[32h + 4c..].
template <class P, class B>
void pack_q2_quants(const B& b, int r, P& p) {
  for (int h = 0; h < 2; ++h)
    for (int c = 0; c < 8; ++c) std::memcpy(p.qs[h][c][r], b.qs + 32 * h + 4 * c, 4);
}
template <class P, class B>
void unpack_q2_quants(const P& p, int r, B& b) {
  for (int h = 0; h < 2; ++h)
    for (int c = 0; c < 8; ++c) std::memcpy(b.qs + 32 * h + 4 * c, p.qs[h][c][r], 4);
}

struct Q2_K {
  using P = PackedQ2_K;
  using Block = BlockQ2_K;
  static constexpr int kElems = QK_K;
  static void pack(const BlockQ2_K* const rows[kPackRows], P& p) {
    for (int r = 0; r < kPackRows; ++r) {
      const BlockQ2_K* b = rows[r];
      if (!b) continue;
      p.d[r] = b->d, p.dmin[r] = b->dmin;
      for (int s = 0; s < 16; ++s) p.scales[s / 2][r][s % 2] = b->scales[s];
      pack_q2_quants(*b, r, p);
    }
  }
  static void unpack(const P& p, int r, BlockQ2_K& b) {
    b.d = p.d[r], b.dmin = p.dmin[r];
    for (int s = 0; s < 16; ++s) b.scales[s] = p.scales[s / 2][r][s % 2];
    unpack_q2_quants(p, r, b);
  }
};

struct Q3_K {
  using P = PackedQ3_K;
  using Block = BlockQ3_K;
  static constexpr int kElems = QK_K;
  static void pack(const BlockQ3_K* const rows[kPackRows], P& p) {
    for (int r = 0; r < kPackRows; ++r) {
      const BlockQ3_K* b = rows[r];
      if (!b) continue;
      p.d[r] = b->d;
      int8_t sc[16];
      q3k_scales(b->scales, sc);
      for (int s = 0; s < 16; ++s) p.scales[s][r] = sc[s];
      pack_q2_quants(*b, r, p);
      for (int c = 0; c < 8; ++c) std::memcpy(p.hmask[c][r], b->hmask + 4 * c, 4);
    }
  }
  static void unpack(const P& p, int r, BlockQ3_K& b) {
    b.d = p.d[r];
    std::memset(b.scales, 0, sizeof b.scales);
    for (int j = 0; j < 16; ++j) {  // the inverse of q3k_scales
      const int v = p.scales[j][r] + 32, lo = v & 0xf, hi = v >> 4;
      if (j < 8)
        b.scales[j] |= static_cast<uint8_t>(lo);
      else
        b.scales[j - 8] |= static_cast<uint8_t>(lo << 4);
      b.scales[8 + j % 4] |= static_cast<uint8_t>(hi << (2 * (j / 4)));
    }
    unpack_q2_quants(p, r, b);
    for (int c = 0; c < 8; ++c) std::memcpy(b.hmask + 4 * c, p.hmask[c][r], 4);
  }
};

struct Q6_K {
  using P = PackedQ6_K;
  using Block = BlockQ6_K;
  static constexpr int kElems = QK_K;
  // Chunk (h, q, i) covers l = 16q + 4i of half h: ql[64h + l], ql[64h + 32 + l], qh[32h + l].
  static void pack(const BlockQ6_K* const rows[kPackRows], P& p) {
    for (int r = 0; r < kPackRows; ++r) {
      const BlockQ6_K* b = rows[r];
      if (!b) continue;
      p.d[r] = b->d;
      for (int s = 0; s < 16; ++s) p.scales[s][r] = b->scales[s];
      for (int h = 0; h < 2; ++h)
        for (int q = 0; q < 2; ++q)
          for (int i = 0; i < 4; ++i) {
            const int l = 16 * q + 4 * i;
            std::memcpy(p.q[h][q][i][0][r], b->ql + 64 * h + l, 4);
            std::memcpy(p.q[h][q][i][1][r], b->ql + 64 * h + 32 + l, 4);
            std::memcpy(p.q[h][q][i][2][r], b->qh + 32 * h + l, 4);
          }
    }
  }
  static void unpack(const P& p, int r, BlockQ6_K& b) {
    b.d = p.d[r];
    for (int s = 0; s < 16; ++s) b.scales[s] = p.scales[s][r];
    for (int h = 0; h < 2; ++h)
      for (int q = 0; q < 2; ++q)
        for (int i = 0; i < 4; ++i) {
          const int l = 16 * q + 4 * i;
          std::memcpy(b.ql + 64 * h + l, p.q[h][q][i][0][r], 4);
          std::memcpy(b.ql + 64 * h + 32 + l, p.q[h][q][i][1][r], 4);
          std::memcpy(b.qh + 32 * h + l, p.q[h][q][i][2][r], 4);
        }
  }
};

using Q4_0 = Legacy<PackedQ4_0, BlockQ4_0, 4, 0>;
using Q8_0 = Legacy<PackedQ8_0, BlockQ8_0, 8, 128>;

template <class L>
size_t group_bytes_of(int64_t cols) {
  return static_cast<size_t>(cols / L::kElems) * sizeof(typename L::P);
}

template <class L>
void pack_group_of(const uint8_t* src, int64_t rows, int64_t cols, int64_t group, uint8_t* dst) {
  using B = typename L::Block;
  const int64_t nb = cols / L::kElems;
  const size_t rb = static_cast<size_t>(nb) * sizeof(B);
  const B* row[kPackRows];
  auto* out = reinterpret_cast<typename L::P*>(dst);
  for (int64_t b = 0; b < nb; ++b) {
    for (int r = 0; r < kPackRows; ++r) {
      const int64_t i = group * kPackRows + r;
      row[r] = i < rows ? reinterpret_cast<const B*>(src + i * rb) + b : nullptr;
    }
    std::memset(&out[b], 0, sizeof out[b]);
    L::pack(row, out[b]);
  }
}

template <class L>
void unpack_row_of(const uint8_t* packed, int64_t cols, int64_t row, uint8_t* dst) {
  const int64_t nb = cols / L::kElems;
  const auto* g = reinterpret_cast<const typename L::P*>(packed + (row / kPackRows) * group_bytes_of<L>(cols));
  auto* out = reinterpret_cast<typename L::Block*>(dst);
  for (int64_t b = 0; b < nb; ++b) L::unpack(g[b], static_cast<int>(row % kPackRows), out[b]);
}

// Calls f.template operator()<Layout>() for type t; returns def when t has no packed layout.
template <class F, class R>
R with_layout(DType t, F&& f, R def) {
  switch (t) {
    case DType::Q4_0: return f.template operator()<Q4_0>();
    case DType::Q8_0: return f.template operator()<Q8_0>();
    case DType::Q4_K: return f.template operator()<Q4_K>();
    case DType::Q6_K: return f.template operator()<Q6_K>();
    case DType::Q5_K: return f.template operator()<Q5_K>();
    case DType::Q2_K: return f.template operator()<Q2_K>();
    case DType::Q3_K: return f.template operator()<Q3_K>();
    default: return def;
  }
}

}  // namespace

bool packable(DType t) {
  return with_layout(t, []<class L>() { return true; }, false);
}

size_t packed_group_bytes(DType t, int64_t cols) {
  return with_layout(t, [&]<class L>() { return group_bytes_of<L>(cols); }, size_t{0});
}

size_t packed_bytes(DType t, int64_t rows, int64_t cols) {
  return static_cast<size_t>((rows + kPackRows - 1) / kPackRows) * packed_group_bytes(t, cols);
}

void pack_group(DType t, const uint8_t* src, int64_t rows, int64_t cols, int64_t group, uint8_t* dst) {
  with_layout(t, [&]<class L>() { return pack_group_of<L>(src, rows, cols, group, dst), 0; }, 0);
}

void unpack_row(DType t, const uint8_t* packed, int64_t cols, int64_t row, uint8_t* dst) {
  with_layout(t, [&]<class L>() { return unpack_row_of<L>(packed, cols, row, dst), 0; }, 0);
}

}  // namespace hearth::cpu

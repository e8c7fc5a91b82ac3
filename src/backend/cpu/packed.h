// Packed weights: a CPU-only layout of a weight matrix in which groups of kPackRows rows are interleaved
// block by block, so that one vector load holds the same 4 elements of 8 rows. A matrix-vector product then
// streams one contiguous buffer, and each 8-bit multiply-add instruction serves 8 rows at once with a single
// broadcast activation word. The model's file stays untouched; the packed copy is made once at load.
//
// Layouts (per group of 8 rows, per block of 32 elements; group g holds rows 8g..8g+7, missing rows are zero):
//   Q4_0: PackedQ4_0 — the 8 scales, then chunk c (c < 4) as 8 rows x 4 bytes: row r's qs[4c..4c+3], so that
//         low nibbles are elements 4c..4c+3 and high nibbles elements 16+4c..16+4c+3 (Q4_0's own nibble order).
//   Q8_0: PackedQ8_0 — the 8 scales, then chunk c (c < 8) as 8 rows x 4 bytes: row r's qs[4c..4c+3] + 128
//         (unsigned, so that u8 x s8 products need no sign trick).
// k-quants, per block of 256 (scales unpacked to bytes, so the kernels need no bit juggling for them):
//   Q4_K: PackedQ4_K — scales and mins per 32-element sub-block; quants as 4 parts of 64 elements, each 8 chunks
//         of 8 rows x 4 bytes (row's qs[32j + 4c..]): low nibbles are sub-block 2j, high nibbles sub-block 2j+1.
//   Q6_K: PackedQ6_K — scales per 16-element sub-block; for each half h, quarter q and i < 4 (l = 16q + 4i), three
//         chunks of 8 rows x 4 bytes: ql[64h + l..], ql[64h + 32 + l..], qh[32h + l..] (Q6_K's own bit layout).
//   Q5_K, Q2_K, Q3_K: the file's quant bytes in 4-byte chunks of 8 rows, in the orders given below.
#pragma once
#include <cstddef>
#include <cstdint>

#include "quant/dtype.h"

namespace hearth::cpu {

constexpr int kPackRows = 8;

struct PackedQ4_0 {
  uint16_t d[kPackRows];
  uint8_t qs[4][kPackRows][4];
};
struct PackedQ8_0 {
  uint16_t d[kPackRows];
  uint8_t qs[8][kPackRows][4];
};

struct PackedQ4_K {
  uint16_t d[kPackRows], dmin[kPackRows];
  uint8_t scales[8][kPackRows];   // [sub-block][row], 6-bit
  uint8_t mins[4][kPackRows][2];  // [sub-block pair][row][2], 6-bit
  uint8_t qs[4][8][kPackRows][4];
};
struct PackedQ5_K {  // PackedQ4_K plus the fifth bits: qh chunk c of row r is its qh[4c..4c+3]
  uint16_t d[kPackRows], dmin[kPackRows];
  uint8_t scales[8][kPackRows];
  uint8_t mins[4][kPackRows][2];
  uint8_t qs[4][8][kPackRows][4];
  uint8_t qh[8][kPackRows][4];
};
struct PackedQ2_K {
  uint16_t d[kPackRows], dmin[kPackRows];
  uint8_t scales[8][kPackRows][2];  // [sub-block pair][row][2]: the file's scale | min << 4 bytes
  uint8_t qs[2][8][kPackRows][4];   // [half][chunk][row][4]: row's qs[32 half + 4c..]
};
struct PackedQ3_K {
  uint16_t d[kPackRows];
  int8_t scales[16][kPackRows];     // [sub-block][row], -32..31
  uint8_t qs[2][8][kPackRows][4];   // as Q2_K
  uint8_t hmask[8][kPackRows][4];   // [chunk][row][4]: row's hmask[4c..]
};
struct PackedQ6_K {
  uint16_t d[kPackRows];
  int8_t scales[16][kPackRows];         // [sub-block][row]
  uint8_t q[2][2][4][3][kPackRows][4];  // [half][quarter][i][ql low, ql high, qh][row][4]
};

// Whether weights of type t have a packed layout.
bool packable(DType t);
// Bytes of one group of kPackRows rows of cols elements, and of a whole packed matrix (rows rounded up).
size_t packed_group_bytes(DType t, int64_t cols);
size_t packed_bytes(DType t, int64_t rows, int64_t cols);
// Packs rows [8 * group, 8 * group + 8) of a row-major matrix (rows x cols of type t) into dst.
void pack_group(DType t, const uint8_t* src, int64_t rows, int64_t cols, int64_t group, uint8_t* dst);
// Restores row `row` of a packed matrix to the file's row layout (row_bytes(t, cols) bytes).
void unpack_row(DType t, const uint8_t* packed, int64_t cols, int64_t row, uint8_t* dst);

}  // namespace hearth::cpu

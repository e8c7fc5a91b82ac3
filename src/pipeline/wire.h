// The messages pipeline stages exchange: a small fixed header, the token positions and sequences of a
// micro-batch, and a payload of F32 rows encoded on the wire as F32, F16 or Q8_0 blocks. Plain bytes, no MPI:
// the transport (pipeline/mpi/) only moves them, and the encoding is tested without it.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace hearth::pipeline {

// How hidden-state rows travel. Logits always travel as F32 so that sampling is identical to one process.
enum class WireType : uint8_t { F32 = 0, F16 = 1, Q8_0 = 2 };

// "f32", "f16", "q8_0" (case-insensitive); throws hearth::Error naming the accepted values.
WireType parse_wire_type(const std::string& name);
const char* wire_type_name(WireType t);

// Bytes of n_rows rows of n_cols values on the wire. Q8_0 rows are padded to whole blocks of 32.
size_t wire_bytes(WireType t, int n_rows, int n_cols);
// src [n_rows, n_cols] F32 -> dst [wire_bytes]. Q8_0: per block of 32, d = max|x| / 127 (as F16), q = round(x / d).
void wire_encode(WireType t, const float* src, int n_rows, int n_cols, uint8_t* dst);
void wire_decode(WireType t, const uint8_t* src, int n_rows, int n_cols, float* dst);

enum class MsgKind : uint8_t {
  Hidden = 1,   // a micro-batch's hidden state, stage i -> i+1
  Logits = 2,   // logit rows of a micro-batch, output stage -> rank 0 (whole rows, or candidates: see ints)
  Clear = 3,    // forget sequence `seqs[0]` (travels down the pipe in order with the micro-batches)
  Stop = 4,     // end of the run; `text` collects each stage's statistics on the way down
  Error = 5,    // a stage failed: `text` says how (to rank 0)
  Control = 6,  // setup and liveness: `text` is JSON (hello, plan, ready, ping, pong)
};
const char* msg_kind_name(MsgKind k);

constexpr int32_t kLogitsAll = -1;

struct Message {
  MsgKind kind = MsgKind::Hidden;
  WireType wire = WireType::F32;  // encoding of `data` on the wire
  int32_t micro_batch = 0;        // id given by rank 0; logits answer with the same id
  int32_t lap = 0;                // Hidden in a looped pipeline: which lap of the receiving rank runs it
  std::vector<int32_t> pos;       // [n] positions of the micro-batch's tokens
  std::vector<int32_t> seqs;      // [n] sequence of each token
  std::vector<int32_t> rows;      // Hidden: batch rows whose logits are wanted; Logits: the rows returned
  // Hidden: per wanted row, which logits rank 0 needs (kLogitsAll, or {K, n, ids[n]}: the K highest and those of
  // ids). Logits with candidates: per row, kLogitsAll (the whole row in data) or {n, ids[n]} (n values in data).
  std::vector<int32_t> ints;
  int32_t n_cols = 0;             // n_embd (Hidden) or n_vocab (Logits)
  std::vector<float> data;        // Hidden [n, n_cols]; Logits [rows.size(), n_cols]
  std::string text;

  int n() const { return static_cast<int>(pos.size()); }
};

// Serializes a message (data encoded with msg.wire). Throws hearth::Error when the fields disagree.
std::vector<uint8_t> encode_message(const Message& msg);
// Parses bytes from another rank; throws hearth::Error naming the fault for anything malformed.
Message decode_message(const uint8_t* bytes, size_t size);

}  // namespace hearth::pipeline

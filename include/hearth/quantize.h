// Quantizing a model file: llama-quantize's type mixes (Q4_K_M, Q6_K, ...) with the same reference
// quantizers, so the output matches llama.cpp's tensor for tensor and loads in either engine.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "hearth/error.h"

namespace hearth {

struct QuantizeParams {
  std::string type;                  // file type: "q4_k_m", "Q8_0", "f16", ... or a llama_ftype number
  int n_threads = 0;                 // 0: all cores
  bool allow_requantize = false;     // accept already-quantized input tensors (quality is lost twice)
  bool pure = false;                 // every quantizable tensor gets the base type (no mix rules)
  bool leave_output_tensor = false;  // keep output.weight as it is in the input
  std::string output_tensor_type;    // tensor type for output.weight ("q8_0", "f16", ...); empty: the mix's
  std::string token_embedding_type;  // tensor type for token_embd.weight; empty: the mix's
  // Where llama-quantize stops (a row that fits no block of the type) or falls back to a type hearth
  // cannot write (IQ4_NL), use the nearest type hearth writes instead (F16, Q4_0) and list it in
  // QuantizeResult::notes. false: fail as llama-quantize does.
  bool substitute_fallbacks = true;
};

// One tensor of the output, as planned before any data is written.
struct QuantizeTensor {
  std::string name;
  std::string shape;     // "[4096, 32000]"
  std::string type_in;   // "f32"
  std::string type_out;  // "q6_K"
  uint64_t bytes_in = 0;
  uint64_t bytes_out = 0;
  bool converted = false;  // false: copied unchanged
  std::string note;        // why hearth chose another type than llama-quantize would, when it did
};

struct QuantizeProgress {
  size_t index = 0;  // 1-based
  size_t count = 0;
  const QuantizeTensor* tensor = nullptr;
};
using QuantizeProgressFn = std::function<void(const QuantizeProgress&)>;

struct QuantizeResult {
  std::string file_type;  // canonical name, "q4_k_m"
  uint32_t file_type_id = 0;
  std::vector<QuantizeTensor> tensors;
  uint64_t n_weights = 0;  // elements of every tensor
  uint64_t bytes_in = 0;   // tensor data
  uint64_t bytes_out = 0;
  uint64_t file_bytes_in = 0;
  uint64_t file_bytes_out = 0;
  size_t n_converted = 0;
  size_t n_fallback = 0;           // tensors whose row did not fit the mix's type (llama-quantize's fallbacks)
  std::vector<std::string> notes;  // "blk.0.ffn_down.weight: ..." where hearth differs from llama-quantize
};

// The file type names quantize_model accepts.
std::vector<std::string> quantize_type_names();

// Reads in, writes out (atomically: out.tmp, renamed when complete; nothing is left at out on
// failure). progress is called before each tensor's data is written. Throws hearth::Error.
QuantizeResult quantize_model(const std::string& in, const std::string& out, const QuantizeParams& params,
                              const QuantizeProgressFn& progress = {});

}  // namespace hearth

// llama-quantize's file types ("mixes") and its per-tensor type rules (llama_tensor_get_type in
// llama.cpp's src/llama-quant.cpp, without the IQ types hearth cannot write): which tensors are
// quantized at all, which get more bits, and the fallbacks when a row does not fit a block.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "quant/dtype.h"

namespace hearth {

// A llama.cpp file type (llama_ftype): the default tensor type and the mix rules around it.
struct FileType {
  std::string name;  // "q4_k_m"
  uint32_t id;       // general.file_type, llama_ftype numbering
  DType base;        // type of most 2-D weights
};

// Parses "q4_0", "Q4_K_M", "q4_k" (= q4_k_m, as llama-quantize), "f16", or a llama_ftype number ("15").
// Throws on unknown names and on types hearth cannot quantize (the IQ family), naming the supported ones.
FileType file_type_from_name(const std::string& name);
std::vector<std::string> file_type_names();
// True for the float file types (f32, f16, bf16), whose tensors get no per-tensor rules.
bool file_type_is_float(const FileType& ft);

// What the rules need to know about the model (from its GGUF metadata; see model_facts in quantize).
struct ModelFacts {
  std::string arch = "llama";  // general.architecture: Falcon has rules of its own
  int64_t n_layer = 0;         // blocks: the range of use_more_bits for ffn_down
  int64_t n_head = 0;          // query heads (layer 0)
  int64_t n_head_kv = 0;       // key/value heads (layer 0); n_head / n_head_kv is the GQA factor
  int64_t n_expert = 0;        // MoE experts; 8 (Mixtral) has rules of its own
  int64_t n_attention_wv = 0;  // attn_v / attn_qkv / attn_kv_b tensors in the file; 0: n_layer
  bool has_output = true;      // false: token_embd doubles as the output matrix and is typed like it

  int64_t n_gqa() const { return n_head_kv > 0 ? n_head / n_head_kv : 0; }
  // llama.cpp's LLM_TYPE_70B (80 blocks of Llama-2/3-70B and a few others), which gets more bits in attn_v.
  bool is_70b() const;
};

struct MixOptions {
  // Where llama-quantize has no type it can write for a tensor (a 32-element block that does not
  // fit the row: it stops with "Unsupported tensor size"), or falls back to IQ4_NL, which hearth
  // cannot write: false throws, as llama-quantize; true substitutes the nearest type hearth writes
  // (Q4_0 for IQ4_NL, the same size; F16 when no block fits) and says so in TypeChoice::note.
  bool substitute = false;
  // llama-quantize --pure: every quantizable tensor gets the base type (rows that do not fit still
  // fall back).
  bool pure = false;
};

struct TypeChoice {
  DType type = DType::F32;
  bool fallback = false;  // the mix's type did not fit the row (llama-quantize's "fallback quantization")
  std::string note;       // set where hearth substitutes a type for llama-quantize's (MixOptions::substitute)
};

// llama.cpp's use_more_bits: the first and last eighth of the layers and every third in between.
bool use_more_bits(int64_t i_layer, int64_t n_layer);

// llama-quantize's filter: the tensors it converts at all (2-D and 3-D weights that are not norms,
// MoE gates, position embeddings, ...). dims: ne in ggml order, trailing 1s count as absent.
bool tensor_is_quantizable(const std::string& name, const std::vector<int64_t>& dims);

// The type llama-quantize gives a quantizable tensor of this file type. layer: for attn_v, how
// many attn_v tensors precede it in llama.cpp's order (the block index in a dense model); for
// ffn_down, the block index; otherwise unused. Float file types give their type to every tensor.
// Throws hearth::Error where llama-quantize fails too (see MixOptions::substitute).
TypeChoice tensor_type(const FileType& ft, const ModelFacts& m, const std::string& name, int64_t layer,
                       const std::vector<int64_t>& dims, const MixOptions& opt = {});

// Applies tensor_type to a whole model visited in llama-quantize's order (by block, then by name),
// keeping llama.cpp's counters of attn_v and ffn_down tensors.
class MixPlanner {
 public:
  MixPlanner(FileType ft, ModelFacts facts, MixOptions opt = {});
  // Call only for quantizable tensors, in order.
  TypeChoice next(const std::string& name, const std::vector<int64_t>& dims);

 private:
  FileType ft_;
  ModelFacts facts_;
  MixOptions opt_;
  int64_t i_attention_wv_ = 0;
  int64_t i_ffn_down_ = 0;
};

// The block number of "blk.N.*" names, -1 for others (as llama.cpp's sscanf("blk.%d.")).
int64_t tensor_block(const std::string& name);

}  // namespace hearth

// Random-weight GGUF files, named and typed as llama.cpp's convert script and llama-quantize name and type
// them, for benchmarks and logit comparisons at real model shapes: the Llama architecture (with experts: Mixtral),
// and the tensor sets of qwen2, qwen3, qwen3moe, phi3, gemma, gpt2, starcoder and falcon at the same shapes.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "quant/dtype.h"
#include "quant/mix.h"

namespace hearth::gen {

struct LlamaShape {
  std::string name;         // preset name, for general.name
  int64_t n_embd = 256;     // hidden size
  int64_t n_layer = 2;      // transformer blocks
  int64_t n_head = 8;       // query heads
  int64_t n_head_kv = 4;    // key/value heads (GQA when < n_head)
  int64_t n_ff = 768;       // feed-forward hidden size
  int64_t head_dim = 0;     // per attention head; 0: n_embd / n_head (Gemma-7B and Qwen3 have wider heads)
  int64_t n_rot = 0;        // rotated dims per head; 0: all of them (Phi-4-mini rotates 3/4)
  int64_t n_expert = 0;     // llama / qwen3moe: a mixture of this many experts in place of each FFN
  int64_t n_expert_used = 0;  // experts per token
  int64_t n_ff_exp = 0;     // an expert's feed-forward size; 0: n_ff
  int64_t n_ff_shexp = 0;   // granitemoe: a shared expert of this feed-forward size; 0: none
  int64_t sliding_window = 0;  // gemma2 / gemma3: attention.sliding_window (0: the key is not written)
  double attn_softcap = 0;     // gemma2: attn_logit_softcapping (0: not written)
  double final_softcap = 0;    // gemma2: final_logit_softcapping (0: not written)
  double rope_scale = 0;       // rope.scaling.type linear with this factor (0: none)
  bool long_rope = false;      // LongRoPE (Phi-3 128k / 3.5): rope_factors_short/long and an attention factor
  int64_t n_ctx_orig = 0;      // LongRoPE: rope.scaling.original_context_length (0: not written)
  int64_t n_vocab = 512;    // tokens
  int64_t n_ctx = 2048;     // training context length
  double rope_base = 10000.0;
  double rms_eps = 1e-5;
};

// "tiny", "stories" (stories260K's shape), "tinyllama", "llama2-7b", "llama3-8b". Throws on unknown names.
LlamaShape shape_preset(const std::string& name);
std::vector<std::string> shape_preset_names();

// The file types and per-tensor type rules are llama-quantize's, shared with hearth quantize.
using hearth::FileType;
using hearth::file_type_from_name;
using hearth::file_type_names;

// The general.architecture values generate_llama writes.
std::vector<std::string> gen_arch_names();

struct GenOptions {
  LlamaShape shape;
  std::string arch = "llama";  // general.architecture: which tensors and keys (gen_arch_names())
  bool falcon_norm_2 = false;  // falcon: a second LayerNorm per block (attn_norm_2, as Falcon-40B)
  FileType file_type;
  uint64_t seed = 42;
  float scale = 0.02f;       // standard deviation of matrix weights
  float norm_scale = 0.05f;  // norm weights are 1 + norm_scale * N(0, 1)
  bool tied_output = false;  // no output.weight: token_embd is used as the output matrix
  std::string vocab_path;    // GGUF to copy tokenizer.* metadata from; empty: a synthetic byte-level SPM vocab
  int threads = 0;           // 0: hardware concurrency
};

struct GenSummary {
  size_t n_tensors = 0;
  uint64_t n_params = 0;
  uint64_t file_bytes = 0;
  std::vector<std::pair<std::string, size_t>> type_counts;  // dtype name -> tensors
};

// Writes the model to path (atomically). Throws hearth::Error.
GenSummary generate_llama(const GenOptions& opt, const std::string& path);

}  // namespace hearth::gen

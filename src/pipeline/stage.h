// A pipeline stage: one contiguous range of a model's layers, run with the normal model code.
//
// The pipeline is stages, not a special model: a stage loads only its own tensors (its layers, plus the token
// embeddings on the input stage and the output norm + head on the output stage), owns the KV cache of its layers
// only, and runs the ordinary forward pass restricted to its layer range. The hidden state enters and leaves
// as [n, n_embd] F32 rows in host memory; a transport (in-process, or MPI between ranks) moves it between stages.
// A stage whose layer weights exceed its memory budget streams them in layer groups (placement/layer_stream.h).
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "hearth/model.h"
#include "hearth/session.h"

namespace hearth::pipeline {

// One contiguous part of a model.
struct StageSpec {
  int layer_begin = 0;    // first layer run here
  int layer_end = -1;     // one past the last; -1: n_layer
  bool input = true;      // holds the token embeddings (first stage: takes token ids)
  bool output = true;     // holds output norm + head (last stage: produces logits)
  size_t mem_budget = 0;  // bytes of layer weights kept resident; 0: all resident (no streaming)
  int stream_slots = 0;   // layer-group slots when streaming; 0: automatic (2 when two layers fit, else 1)
  bool verify_sha256 = false;  // split directory: check each part's SHA-256 (sizes are always checked)
  // A looped pipeline's rank: several layer ranges [first, second), ascending and disjoint, run one per pass
  // (forward_lap); layer_begin/layer_end are then their hull, input applies to the first lap and output to the
  // last. Empty: one lap, [layer_begin, layer_end).
  std::vector<std::pair<int, int>> laps;
};

// What a driver needs to know about a stage (identical on every stage of one model except the ranges).
struct StageShape {
  std::string arch;         // general.architecture
  std::string name;         // general.name
  int n_embd = 0;           // width of the hidden state handed between stages
  int n_layer = 0;          // layers of the whole model
  int n_vocab = 0;          // logits per row on the output stage
  int layer_begin = 0;      // this stage's range [layer_begin, layer_end) (the hull of its laps)
  int layer_end = 0;
  std::vector<std::pair<int, int>> laps;  // the layers of each lap (one entry: [layer_begin, layer_end))
  bool input = true;
  bool output = true;
  int n_ctx = 0;            // context per sequence of the KV cache
  int n_seq = 1;            // sequences (KV slots)
  int n_batch = 0;          // most tokens per forward()
  size_t layer_bytes = 0;   // weight bytes of this stage's layers (resident or streamed)
  size_t resident_bytes = 0;  // weight bytes held in memory at once (layers part; == layer_bytes unless streamed)
};

// Layer-streaming counters (all zero when the stage keeps every layer resident).
struct StreamStats {
  bool streaming = false;
  int n_groups = 0;           // layer groups of the stage
  int n_slots = 0;            // resident group buffers
  uint64_t bytes_read = 0;    // bytes loaded into slots since open
  uint64_t groups_loaded = 0;
  double load_s = 0;          // time the loader thread spent reading (overlapped with compute when free)
  double wait_s = 0;          // time compute waited for a group to be loaded
  double compute_s = 0;       // time spent computing streamed groups
};

class Stage {
 public:
  // path: a whole GGUF file (only this stage's tensors are loaded) or a `hearth split` output directory (or its
  // manifest.json; only the parts covering this stage are read). params: context, sequences and batch size of the
  // stage's KV cache and activations (as for a Session). Throws hearth::Error with context on bad input.
  static std::unique_ptr<Stage> open(const std::string& path, const StageSpec& spec, const LoadParams& load,
                                     const SessionParams& params);
  virtual ~Stage() = default;

  virtual const StageShape& shape() const = 0;
  // Tokenizer and chat template; available on input and output stages (null elsewhere).
  virtual const Model* model() const = 0;

  // One micro-batch of n tokens (n <= n_batch) with positions pos[n] and sequences seq[n] (host arrays).
  // Input: token ids tokens[n] (input stage) or hidden_in [n, n_embd] F32 (other stages).
  // Output: hidden_out [n, n_embd] (non-output stages), or, on the output stage, the logits of rows
  // logit_rows (ascending indices into the batch) into logits_out [logit_rows.size(), n_vocab].
  void forward(const int32_t* tokens, const float* hidden_in, const int32_t* pos, const int32_t* seq, int n,
               float* hidden_out, const std::vector<int>& logit_rows, float* logits_out) {
    forward_lap(0, tokens, hidden_in, pos, seq, n, hidden_out, logit_rows, logits_out);
  }
  // As forward, for the layers of lap `lap` (a looped pipeline's rank): token ids on lap 0 of the input stage,
  // logits on the last lap of the output stage, hidden states in and out otherwise.
  virtual void forward_lap(int lap, const int32_t* tokens, const float* hidden_in, const int32_t* pos,
                           const int32_t* seq, int n, float* hidden_out, const std::vector<int>& logit_rows,
                           float* logits_out) = 0;
  // Forgets a sequence's KV cache (positions are written again from 0 by the driver).
  virtual void clear_seq(int seq) = 0;

  virtual StreamStats stream_stats() const = 0;
};

// Splits layers [0, n_layer) into `n_stages` contiguous ranges with about equal weight bytes (layer_bytes[l] per
// layer; at least one layer per stage). The first range is the input, the last the output stage.
std::vector<StageSpec> plan_stages(const std::vector<size_t>& layer_bytes, int n_stages);
// A looped pipeline: n_ranks ranks run the virtual stages in turn, rank r the stages r, r + n_ranks, r + 2 n_ranks
// ... as its laps, so that the hidden state goes around the ranks once per lap. virtual_stages: contiguous, in
// layer order, a multiple of n_ranks (throws hearth::Error otherwise). One lap: the stages as they are.
std::vector<StageSpec> loop_stages(const std::vector<StageSpec>& virtual_stages, int n_ranks);
// Parses "0-9,10-21" (inclusive ranges, contiguous, covering [0, n_layer)); throws hearth::Error naming the fault.
std::vector<StageSpec> parse_stage_ranges(const std::string& text, int n_layer);
// Weight bytes per layer of a GGUF file or `hearth split` directory (reads headers only).
std::vector<size_t> layer_bytes_of(const std::string& path);

}  // namespace hearth::pipeline

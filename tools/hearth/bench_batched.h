// hearth bench --parallel: aggregate speed of several sequences evaluated together (as a server with
// continuous batching runs them), measured like llama.cpp's llama-batched-bench.
#pragma once
#include "hearth/model.h"

namespace hearth::cli {

struct BatchedResult {
  double pp_tps = 0;  // prompt tokens of all sequences per second (prompts evaluated together)
  double tg_tps = 0;  // generated tokens of all sequences per second (one token of each per forward pass)
};

// n_seq sequences, each a random prompt of pp tokens, then tg steps of one token per sequence.
BatchedResult measure_batched(Model& model, int n_seq, int pp, int tg, unsigned seed);

}  // namespace hearth::cli

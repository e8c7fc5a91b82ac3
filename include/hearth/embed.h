// Embeddings: one vector per input text, pooled from the final hidden state of the model (after the output
// norm, before the output head), as llama.cpp's llama-embedding computes them for a causal model.
#pragma once
#include <cstdint>
#include <string_view>
#include <vector>

#include "hearth/model.h"

namespace hearth {

enum class Pooling {
  Mean,   // average over every token (BOS included)
  Last,   // the last token: the only one that has seen the whole input under causal attention
  First,  // the first token ("cls"; for a causal model with BOS, the same vector for every input)
};

// "mean", "last", "cls" or "first"; throws hearth::Error naming the choices otherwise.
Pooling parse_pooling(std::string_view name);
const char* pooling_name(Pooling p);

struct EmbedParams {
  Pooling pooling = Pooling::Mean;
  bool normalize = true;  // L2 (unit length), llama.cpp's --embd-normalize 2
  int n_ctx = 0;          // longest input accepted; 0: the model's training context
  int n_batch = 512;      // tokens per forward pass
  int max_seqs = 16;      // inputs evaluated together in one forward pass
};

// The embedding (n_embd floats) of each input, in order. Inputs are token lists (BOS included when wanted:
// see embed_tokenize), each non-empty and at most n_ctx long; several short inputs share one forward pass,
// each in its own sequence. Thread-safe with other sessions on the same model (their passes take turns).
// Throws hearth::Error for an empty input, an input longer than n_ctx or a token outside the vocabulary.
std::vector<std::vector<float>> embed(Model& model, const std::vector<std::vector<int32_t>>& inputs,
                                      const EmbedParams& params = {});

// The tokens llama.cpp embeds for a text: BOS first, special tokens parsed.
std::vector<int32_t> embed_tokenize(const Model& model, std::string_view text);

// Scales v to unit L2 length (left as is when it is all zeros).
void l2_normalize(std::vector<float>& v);

}  // namespace hearth

// A session evaluates tokens of one or more sequences on a loaded model and owns their KV cache.
#pragma once
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "hearth/model.h"

namespace hearth {

struct SessionParams {
  int n_ctx = 0;      // context length per sequence; 0: the model's training context, at most 4096
  int n_batch = 512;  // tokens per forward pass (longer prompts are split)
  int n_seq = 1;      // sequences (KV slots) evaluated together
  bool kv_f32 = false;  // F32 KV cache instead of F16
};

// One token of a batch: which sequence it belongs to, and whether its logits are wanted.
struct BatchToken {
  int32_t token = 0;
  int32_t seq = 0;
  bool logits = false;
};

class Session {
 public:
  Session(Model& model, const SessionParams& params = {});
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  // Appends tokens to sequence seq and evaluates them; returns the logits after the last token
  // (n_vocab floats, valid until the next call). Throws when the context would overflow.
  const float* decode(std::span<const int32_t> tokens, int seq = 0);
  // As decode, but writes the logits after every token into all_logits[tokens.size() * n_vocab].
  void decode_all(std::span<const int32_t> tokens, float* all_logits, int seq = 0);
  // Evaluates one mixed batch (any sequences, each token appended to its sequence in order);
  // writes the logits of the tokens marked `logits`, in batch order, to out[n_marked * n_vocab].
  void decode_batch(std::span<const BatchToken> batch, float* out);
  // As decode_batch, but for embeddings: computes no logits and writes the final hidden state of every token
  // (after the output norm, before the output head), in batch order, to out[batch.size() * n_embd].
  void decode_hidden(std::span<const BatchToken> batch, float* out);

  int n_past(int seq = 0) const;
  int n_ctx() const;
  int n_seq() const;
  int n_vocab() const;
  int n_embd() const;
  // Forgets positions >= n of sequence seq (0: the whole sequence).
  void truncate(int seq, int n);
  // Sequence dst becomes positions [0, n) of sequence src (their K/V copied), as if it had evaluated them.
  void copy_sequence(int src, int dst, int n);
  Model& model();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace hearth

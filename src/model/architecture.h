// An architecture builds its weights from a GGUF file and runs the forward pass with backend ops.
// Architectures are registered by their general.architecture name.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "backend/backend.h"
#include "model/hparams.h"

namespace hearth {

class GgufFile;
class WeightStore;
struct PlacementPlan;

// Activation buffers on one backend, for up to n_batch tokens.
struct Activations {
  float* x = nullptr;     // [n_batch, n_embd] hidden state
  float* xn = nullptr;    // [n_batch, n_embd] normalized / block output
  float* q = nullptr;     // [n_batch, q_dim]
  float* k = nullptr;     // [n_batch, kv_dim]
  float* v = nullptr;     // [n_batch, kv_dim]
  float* att = nullptr;   // [n_batch, q_dim]
  float* gate = nullptr;  // [n_batch, max(n_ff, n_ff_exp)]
  float* up = nullptr;    // [n_batch, max(n_ff, n_ff_exp)]
  float* router = nullptr;  // [n_batch, n_expert] the experts' scores (mixtures of experts only)
  float* y = nullptr;     // [n_batch, n_embd] a second block output (parallel attention and FFN)
  float* wide = nullptr;  // [n_batch, HParams::n_wide] outputs of fused matrices (QKV, gate+up); null if 0
  float* logits = nullptr;  // [n_batch, n_vocab] (output backend only)
};

// Told before and after each layer runs: layer streaming waits there for a layer's weights to be loaded
// and frees their buffer when the layer group is done.
class LayerObserver {
 public:
  virtual ~LayerObserver() = default;
  virtual void before_layer(int layer) = 0;
  virtual void after_layer(int layer) = 0;
};

// One forward pass: n_tokens tokens with their positions and sequences.
struct ForwardPass {
  const int32_t* tokens = nullptr;
  const int32_t* pos = nullptr;
  const int32_t* seq = nullptr;
  int n_tokens = 0;
  // Token rows whose logits are wanted, ascending; logits_out[i * n_vocab] receives row i's logits.
  std::vector<int> logit_rows;
  float* logits_out = nullptr;  // host
  // Per backend index (as in the plan): its activations; per layer: its KV cache.
  std::vector<Activations>* acts = nullptr;
  std::vector<KvLayer>* kv = nullptr;
  // Pipeline stages run the plan's layer range only. hidden_in (host, [n_tokens, n_embd]) replaces the token
  // embeddings on a stage without input; a stage without output writes the hidden state after its last layer
  // to hidden_out (host, [n_tokens, n_embd]) instead of logits.
  const float* hidden_in = nullptr;
  float* hidden_out = nullptr;
  LayerObserver* observer = nullptr;  // null: every layer resident
  int lap = 0;  // a looped pipeline rank runs one of its layer ranges per pass (PlacementPlan::laps)
  // Embeddings: the output-normed hidden state of every row (host, [n_tokens, n_embd]); with no logit_rows
  // the output head is skipped.
  float* embd_out = nullptr;
};

class Architecture {
 public:
  virtual ~Architecture() = default;
  virtual const HParams& hparams() const = 0;
  virtual void forward(ForwardPass& pass) = 0;
};

using ArchitectureFactory =
    std::function<std::unique_ptr<Architecture>(const GgufFile&, const HParams&, WeightStore&, const PlacementPlan&)>;

// Registry by architecture name; returns null for unknown names.
const ArchitectureFactory* find_architecture(const std::string& name);
std::vector<std::string> architecture_names();

}  // namespace hearth

// The loaded model behind the public hearth::Model: file, tokenizer, backends, plan and architecture.
#pragma once
#include <memory>
#include <mutex>
#include <vector>

#include "backend/backend.h"
#include "gguf/gguf.h"
#include "hearth/model.h"
#include "model/architecture.h"
#include "model/weight_store.h"
#include "placement/plan.h"
#include "tokenizer/tokenizer.h"

namespace hearth {

class LayerStream;

// What of a model to load: the whole model from one file by default, or a pipeline stage's part, possibly from
// several files (the parts `hearth split` writes). Layer weights beyond params.mem_budget are streamed.
struct ModelPart {
  std::vector<std::string> files;  // the first holds the metadata; tensors are looked up in all of them
  int layer_begin = 0;             // layers [layer_begin, layer_end) are loaded and run
  int layer_end = -1;              // -1: n_layer
  bool input = true;               // token embeddings
  bool output = true;              // output norm + head
  int stream_slots = 0;            // layer-group slots when streaming; 0: automatic
  // A looped pipeline's rank: several ranges, ascending and disjoint, run one per pass (PlacementPlan::laps);
  // layer_begin/layer_end are then their hull. Empty: one range.
  std::vector<std::pair<int, int>> laps;
};

class ModelImpl final : public Model {
 public:
  ModelImpl(const std::string& path, const LoadParams& params);
  ModelImpl(const ModelPart& part, const LoadParams& params);
  ~ModelImpl() override;

  const ModelInfo& info() const override { return info_; }
  const PlacementSummary& placement() const override { return summary_; }
  std::vector<int32_t> tokenize(std::string_view text, bool add_bos, bool parse_special) const override;
  using Model::token_to_piece;
  std::string token_to_piece(int32_t id, bool special) const override { return tok_->token_to_piece(id, special); }
  std::shared_ptr<const std::vector<std::string>> token_pieces() const override {
    std::call_once(pieces_once_, [this] {
      auto p = std::make_shared<std::vector<std::string>>(tok_->n_vocab());
      for (int32_t t = 0; t < tok_->n_vocab(); ++t) (*p)[t] = tok_->token_to_piece(t, false);
      pieces_ = std::move(p);
    });
    return pieces_;
  }
  std::string detokenize(const std::vector<int32_t>& ids) const override { return tok_->decode(ids); }
  bool is_eog(int32_t id) const override { return tok_->is_eog(id); }
  int32_t bos() const override { return tok_->bos(); }
  int32_t eos() const override { return tok_->eos(); }
  int32_t find_token(std::string_view text) const override { return tok_->find_token(text); }
  std::string token_text(int32_t id) const override;
  size_t kv_bytes(int n_ctx) const override;
  StreamCounters stream_counters() const override;
  std::string format_chat(const std::vector<ChatMessage>& messages, bool add_assistant) const override;
  std::vector<int32_t> tokenize_chat(const std::vector<ChatMessage>& messages, bool add_assistant) const override;
  std::vector<int32_t> tokenize_chat_prompt(const ChatPrompt& prompt) const override {
    return tok_->encode_chat(prompt);
  }
  std::string chat_format_name() const override { return hearth::chat_format_name(chat_template_.format); }

  const HParams& hparams() const { return arch_->hparams(); }
  Architecture& arch() { return *arch_; }
  const PlacementPlan& plan() const { return plan_; }
  bool has_tokenizer() const { return tok_ != nullptr; }
  // Layer streaming (null when every layer of the part is resident); the forward pass's LayerObserver.
  LayerStream* stream() const { return stream_.get(); }
  LayerObserver* layer_observer() const;
  // Held by every session for each forward pass (and while it allocates or frees its buffers): the backends
  // keep per-pass state (batch positions, matmul scratch, one thread pool) and the architecture a staging
  // buffer, so two sessions on one model (the server's generations and its embeddings) take turns.
  std::mutex& forward_mutex() const { return forward_mu_; }

 private:
  std::vector<std::unique_ptr<GgufFile>> more_files_;  // split parts after the first
  std::unique_ptr<LayerStream> stream_;
  std::unique_ptr<GgufFile> file_;
  const GgufFile* tok_file_ = nullptr;  // the file holding the tokenizer (file_ or a split part)
  std::unique_ptr<Tokenizer> tok_;
  std::vector<std::unique_ptr<Backend>> backends_;  // the CPU first, then the GPUs
  std::unique_ptr<Backend> row_split_;              // --split-mode row: the GPUs as one (goes before them)
  PlacementPlan plan_;
  std::unique_ptr<WeightStore> weights_;
  std::unique_ptr<Architecture> arch_;
  ModelInfo info_;
  ChatTemplate chat_template_;  // the template family and its per-template values
  PlacementSummary summary_;
  mutable std::mutex forward_mu_;
  mutable std::once_flag pieces_once_;
  mutable std::shared_ptr<const std::vector<std::string>> pieces_;
};

// Fills the descriptive fields of ModelInfo from a file (shared by `hearth info` and loading).
ModelInfo model_info_from_gguf(const GgufFile& f, const HParams& h);

}  // namespace hearth

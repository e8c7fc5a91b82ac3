// Loading a model: the GGUF file, its tokenizer, and where each layer runs.
#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "hearth/chat.h"
#include "hearth/error.h"

namespace hearth {

struct LoadParams {
  int n_threads = 0;            // CPU threads; 0: one per physical core (at most all cores)
  int n_gpu_layers = -1;        // layers on GPU: -1 automatic from free memory, 0 CPU only
  size_t gpu_mem_limit = 0;     // bytes hearth may use per GPU; 0: the device's free memory
  int n_ctx = 0;                // the context the plan must leave room for (KV cache); 0: default
  std::string split_mode = "layer";  // several GPUs: "layer" (whole layers per GPU), "row" (every matrix split by
                                     // rows across them) or "none" (the first GPU only)
  std::vector<float> tensor_split;   // share of the model per GPU; empty: by free memory
  int main_gpu = 0;                  // the GPU of --split-mode none, and the one holding the KV cache and running
                                     // every op but the matrix products in --split-mode row
  bool repack = true;           // CPU: copy matmul weights at load, packed (or as they are, in huge pages)
  size_t mem_budget = 0;        // bytes of layer weights kept resident; beyond it layers are streamed from
                                // the file in groups (CPU); 0: all resident
  int logical_devices = 0;      // tests: N stand-ins replace the GPUs (GPU 0 opened N times, or N CPU backends
                                // where there is no GPU), so multi-GPU placement runs on any machine
  // Called on the loading thread as the weights are bound (packed, copied to GPUs) with the fraction done, 0 to 1,
  // rising, 1 last (llama.cpp's progress_callback); returning false cancels the load (Model::load throws).
  std::function<bool(float progress)> progress;
};

struct ModelInfo {
  std::string path;
  std::string name;          // general.name
  std::string arch;          // general.architecture
  std::string file_type;     // general.file_type as Ollama names it ("Q4_K_M", "F16", ...); without one, the
                             // type holding the most bytes of 2-D weights ("Q8_0")
  uint64_t file_size = 0;
  uint64_t n_params = 0;
  int n_ctx_train = 0;
  int n_embd = 0, n_layer = 0, n_head = 0, n_head_kv = 0, n_ff = 0, n_vocab = 0, head_dim = 0;
  int n_expert = 0, n_expert_used = 0, n_ff_exp = 0;  // a mixture of experts (0: dense)
  std::string tokenizer_model;  // "llama" (SentencePiece), "gpt2" (byte-level BPE)
  std::string tokenizer_pre;
  std::string chat_template;    // empty when the file has none
  std::map<std::string, int> tensor_types;  // type name -> tensor count
  uint64_t weight_bytes = 0;
};

// Where the model runs, as decided at load time.
struct PlacementSummary {
  std::vector<std::string> layer_device;  // per layer: "CPU", "CUDA0", ...
  std::string output_device;
  std::string text;                       // human-readable plan
};

// Layer streaming (LoadParams::mem_budget) since load; all zero when every layer is resident.
struct StreamCounters {
  int n_groups = 0;           // layer groups streamed in turn
  int n_slots = 0;            // group buffers (prefetch depth = n_slots - 1)
  uint64_t slot_bytes = 0;    // bytes of one slot
  uint64_t bytes_read = 0;    // read from the file into slots
  double load_s = 0;          // loader thread reading (overlaps compute)
  double wait_s = 0;          // compute waiting for a group to arrive
  double compute_s = 0;       // compute inside streamed groups
};

// Reads a model file's description without loading weights (works for architectures hearth cannot run).
ModelInfo inspect_model(const std::string& path);

class Model {
 public:
  static std::unique_ptr<Model> load(const std::string& path, const LoadParams& params = {});
  virtual ~Model() = default;

  virtual const ModelInfo& info() const = 0;
  virtual const PlacementSummary& placement() const = 0;

  // parse_special: text that spells a control token ("</s>", "<|im_end|>") becomes that token; without it the
  // text is plain text. Prompts a user writes whole may parse specials (llama.cpp's /completion and -p do);
  // a conversation's messages never do (tokenize_chat).
  virtual std::vector<int32_t> tokenize(std::string_view text, bool add_bos, bool parse_special) const = 0;
  // The bytes of a token in text. special: control and unknown tokens (<s>, </s>, <|im_end|>) as their
  // spelling; without it they are empty, which is how generated text shows them (llama.cpp's
  // llama_token_to_piece(special = false)). User-defined tokens are their text either way.
  virtual std::string token_to_piece(int32_t id, bool special) const = 0;
  std::string token_to_piece(int32_t id) const { return token_to_piece(id, true); }
  // token_to_piece(id, false) of every id, made once per model (JSON mode tries every token's bytes at each
  // step; a control token adds none).
  virtual std::shared_ptr<const std::vector<std::string>> token_pieces() const = 0;
  // The text of ids as generated text shows it: control and unknown tokens are left out.
  virtual std::string detokenize(const std::vector<int32_t>& ids) const = 0;
  virtual bool is_eog(int32_t id) const = 0;
  virtual int32_t bos() const = 0;
  virtual int32_t eos() const = 0;
  virtual int32_t find_token(std::string_view text) const = 0;
  virtual std::string token_text(int32_t id) const = 0;  // "<s>" for BOS, etc.

  // The chat prompt for messages in the model's template (tokenizer.chat_template), ending with the header
  // of the assistant's reply when add_assistant; and its tokens (BOS added unless the text has it). Only the
  // template's own markers become control tokens: the messages are plain text, so a message that spells
  // "</s>" or "<|im_end|>" cannot end its turn.
  virtual std::string format_chat(const std::vector<ChatMessage>& messages, bool add_assistant) const = 0;
  virtual std::vector<int32_t> tokenize_chat(const std::vector<ChatMessage>& messages, bool add_assistant) const = 0;
  // The tokens of a prompt rendered by chat_render_prompt (e.g. in a template other than the model's), by
  // the same rule.
  virtual std::vector<int32_t> tokenize_chat_prompt(const ChatPrompt& prompt) const = 0;
  virtual std::string chat_format_name() const = 0;

  // Bytes of KV cache for n_ctx positions of one sequence (F16 cache).
  virtual size_t kv_bytes(int n_ctx) const = 0;
  virtual StreamCounters stream_counters() const { return {}; }
};

}  // namespace hearth

// Will a model fit? Before anything is allocated, the bytes a load needs (weights, KV cache for every
// sequence, compute buffers) are compared with the memory the machine has free, so that an oversized model
// is refused with the numbers instead of failing halfway through an allocation or pushing the machine into swap.
#pragma once
#include <cstdint>
#include <optional>
#include <string>

#include "hearth/model.h"

namespace hearth {

struct MemoryNeed {
  uint64_t weights = 0;  // every tensor of the file: the CPU backend copies (repacks) weights into its own memory
  uint64_t kv = 0;       // F16 K and V for n_ctx positions of n_seq sequences
  uint64_t compute = 0;  // activations and logits of one n_batch-token forward pass, plus scratch
  int n_ctx = 0;         // positions per sequence
  int n_seq = 1;         // sequences (the server's --parallel)
  uint64_t total() const { return weights + kv + compute; }
};

// What is free for the load: host memory (MemAvailable) and the GPUs' free memory, which the placement
// planner fills first (whatever does not fit there goes to the host).
struct MemoryAvailable {
  uint64_t host = 0;
  uint64_t gpu = 0;
  uint64_t total() const { return host + gpu; }
};

// The need for a model described by info (inspect_model: no weights read). n_ctx <= 0: the model's trained
// context, at most 4096 (as Model::load).
MemoryNeed estimate_memory_need(const ModelInfo& info, int n_ctx, int n_seq, int n_batch);

// MemAvailable of a /proc/meminfo-format file, in bytes; nullopt when the file or the line is missing.
std::optional<uint64_t> read_mem_available(const std::string& meminfo_path = "/proc/meminfo");

// Empty when need fits in avail; otherwise the refusal, with the numbers: "model needs 5.1 GiB (4.2 GiB
// weights + 0.9 GiB KV cache for 4 x 4096 tokens + 0.1 GiB compute buffers), 3.0 GiB available".
std::string memory_fit_error(const MemoryNeed& need, const MemoryAvailable& avail);

// Measures what is free now: MemAvailable of meminfo_path (0 when unreadable; the file $HEARTH_MEMINFO names
// replaces the default /proc/meminfo) and, unless lp keeps everything on the CPU, the GPUs' free memory (each
// at most lp.gpu_mem_limit).
MemoryAvailable measure_available(const LoadParams& lp, const std::string& meminfo_path = "/proc/meminfo");

// The whole check for loading path with lp and n_seq sequences of lp.n_ctx positions: empty when it fits (or
// when the free memory cannot be read), otherwise the refusal. Reads only the file's header. need_out: the
// estimate, when wanted.
std::string check_model_fits(const std::string& path, const LoadParams& lp, int n_seq, int n_batch,
                             const std::string& meminfo_path = "/proc/meminfo", MemoryNeed* need_out = nullptr);

// "1.5 GiB", "320.0 MiB", "12.0 KiB".
std::string format_bytes(uint64_t bytes);

}  // namespace hearth

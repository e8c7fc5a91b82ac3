#include "placement/memory_fit.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "backend/backend.h"

namespace hearth {

MemoryNeed estimate_memory_need(const ModelInfo& info, int n_ctx, int n_seq, int n_batch) {
  MemoryNeed m;
  m.n_ctx = n_ctx > 0 ? n_ctx : std::min(info.n_ctx_train > 0 ? info.n_ctx_train : 4096, 4096);
  m.n_seq = std::max(1, n_seq);
  m.weights = info.weight_bytes;
  const uint64_t kv_dim = static_cast<uint64_t>(info.n_head_kv) * info.head_dim;
  m.kv = 2ull * 2ull * info.n_layer * kv_dim * static_cast<uint64_t>(m.n_ctx) * m.n_seq;  // K and V, 2 bytes each
  // As the planner's footprint: f32 activations of one batch (residual, norms, q/k/v, attention out, ffn) and its
  // logits, plus 64 MiB of scratch. Only the tokens of one batch are live at a time.
  const uint64_t nb = static_cast<uint64_t>(std::clamp(n_batch, 1, 512));
  const uint64_t q_dim = static_cast<uint64_t>(info.n_head) * info.head_dim;
  m.compute = nb * 4 * (3ull * info.n_embd + 2ull * q_dim + 2ull * kv_dim + 2ull * info.n_ff + info.n_vocab) +
              (64ull << 20);
  return m;
}

std::optional<uint64_t> read_mem_available(const std::string& meminfo_path) {
  std::ifstream f(meminfo_path);
  if (!f) return std::nullopt;
  for (std::string line; std::getline(f, line);) {
    if (line.rfind("MemAvailable:", 0) != 0) continue;
    std::istringstream in(line.substr(13));
    uint64_t value = 0;
    std::string unit;
    if (!(in >> value)) return std::nullopt;
    in >> unit;
    return unit == "kB" || unit.empty() ? value * 1024 : value;
  }
  return std::nullopt;
}

MemoryAvailable measure_available(const LoadParams& lp, const std::string& meminfo_path) {
  MemoryAvailable a;
  // HEARTH_MEMINFO replaces /proc/meminfo: how tests (and a user who wants to) make hearth see less memory.
  const char* fake = std::getenv("HEARTH_MEMINFO");
  a.host = read_mem_available(meminfo_path == "/proc/meminfo" && fake && *fake ? fake : meminfo_path).value_or(0);
  if (lp.n_gpu_layers != 0 && lp.mem_budget == 0)
    for (const DeviceInfo& d : cuda_devices())
      a.gpu += lp.gpu_mem_limit ? std::min<uint64_t>(d.free_bytes, lp.gpu_mem_limit) : d.free_bytes;
  return a;
}

std::string check_model_fits(const std::string& path, const LoadParams& lp, int n_seq, int n_batch,
                             const std::string& meminfo_path, MemoryNeed* need_out) {
  MemoryNeed need = estimate_memory_need(inspect_model(path), lp.n_ctx, n_seq, n_batch);
  // Layer streaming keeps only mem_budget bytes of layers resident.
  if (lp.mem_budget > 0) need.weights = std::min<uint64_t>(need.weights, lp.mem_budget);
  if (need_out) *need_out = need;
  const MemoryAvailable avail = measure_available(lp, meminfo_path);
  if (avail.host == 0) return "";  // no /proc/meminfo (not Linux): nothing to compare with
  return memory_fit_error(need, avail);
}

std::string format_bytes(uint64_t bytes) {
  char buf[32];
  const double b = static_cast<double>(bytes);
  if (b >= 1024.0 * 1024 * 1024) std::snprintf(buf, sizeof buf, "%.1f GiB", b / (1024.0 * 1024 * 1024));
  else if (b >= 1024.0 * 1024) std::snprintf(buf, sizeof buf, "%.1f MiB", b / (1024.0 * 1024));
  else std::snprintf(buf, sizeof buf, "%.1f KiB", b / 1024.0);
  return buf;
}

std::string memory_fit_error(const MemoryNeed& need, const MemoryAvailable& avail) {
  if (need.total() <= avail.total()) return "";
  std::string where = format_bytes(avail.total()) + " available";
  if (avail.gpu > 0) where += " (" + format_bytes(avail.host) + " host + " + format_bytes(avail.gpu) + " GPU)";
  return "model needs " + format_bytes(need.total()) + " (" + format_bytes(need.weights) + " weights + " +
         format_bytes(need.kv) + " KV cache for " + std::to_string(need.n_seq) + " x " + std::to_string(need.n_ctx) +
         " tokens + " + format_bytes(need.compute) + " compute buffers), " + where;
}

}  // namespace hearth

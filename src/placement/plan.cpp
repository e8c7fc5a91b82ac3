#include "placement/plan.h"

#include <algorithm>
#include <cstdio>
#include <numeric>

namespace hearth {
namespace {

// A GPU's free memory, capped at --gpu-mem-limit when set.
size_t usable_bytes(const DeviceInfo& d, size_t limit) { return limit ? std::min(d.free_bytes, limit) : d.free_bytes; }

std::string mib(size_t b) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f MiB", b / 1048576.0);
  return buf;
}

}  // namespace

LayerAssignment plan_layers(const ModelFootprint& fp, const PlanRequest& req) {
  const int n_layer = static_cast<int>(fp.layer_bytes.size());
  const int n_gpu = static_cast<int>(req.gpus.size());
  LayerAssignment out;
  out.layer_device.assign(n_layer, 0);
  if (n_gpu == 0 || req.n_gpu_layers == 0) {
    out.text = "all " + std::to_string(n_layer) + " layers on CPU";
    return out;
  }
  // Budget per GPU.
  std::vector<size_t> budget(n_gpu);
  for (int g = 0; g < n_gpu; ++g) {
    const size_t free = usable_bytes(req.gpus[g], req.gpu_mem_limit);
    size_t reserve = fp.act_bytes + (64u << 20);  // activations, cuBLAS workspace and scratch
    budget[g] = free > reserve ? free - reserve : 0;
  }
  // Shares of layers per GPU.
  std::vector<double> share(n_gpu, 1.0);
  if (!req.tensor_split.empty()) {
    for (int g = 0; g < n_gpu; ++g) share[g] = g < static_cast<int>(req.tensor_split.size()) ? req.tensor_split[g] : 0;
  } else {
    for (int g = 0; g < n_gpu; ++g) share[g] = static_cast<double>(budget[g]);
  }
  double total_share = std::accumulate(share.begin(), share.end(), 0.0);
  if (total_share <= 0) share.assign(n_gpu, 1.0), total_share = n_gpu;

  // How many layers fit: the output head goes first (it is used for every token), then layers from the end.
  int n_fit;
  size_t total_budget = std::accumulate(budget.begin(), budget.end(), size_t{0});
  bool output_on_gpu = false;
  if (req.n_gpu_layers >= 0) {
    n_fit = std::min(req.n_gpu_layers, n_layer);
    output_on_gpu = req.n_gpu_layers >= n_layer;
  } else {
    size_t used = 0;
    if (fp.output_bytes <= total_budget) {
      output_on_gpu = true;
      used = fp.output_bytes;
    }
    n_fit = 0;
    for (int l = n_layer - 1; l >= 0 && output_on_gpu; --l) {
      size_t need = fp.layer_bytes[l] + fp.kv_bytes_per_layer;
      if (used + need > total_budget) break;
      used += need;
      ++n_fit;
    }
  }
  // Assign the last n_fit layers to GPUs in proportion to the shares, in order.
  int first = n_layer - n_fit;
  double acc = 0;
  int assigned = 0;
  for (int g = 0; g < n_gpu; ++g) {
    acc += share[g] / total_share;
    int upto = (g == n_gpu - 1) ? n_fit : static_cast<int>(acc * n_fit + 0.5);
    for (int i = assigned; i < upto; ++i) out.layer_device[first + i] = g + 1;
    assigned = std::max(assigned, upto);
  }
  if (output_on_gpu) out.output_device = n_fit > 0 ? out.layer_device.back() : 1;

  out.text = std::to_string(n_fit) + "/" + std::to_string(n_layer) + " layers on GPU";
  for (int g = 0; g < n_gpu; ++g) {
    int c = static_cast<int>(std::count(out.layer_device.begin(), out.layer_device.end(), g + 1));
    out.text += "; " + req.gpus[g].name + ": " + std::to_string(c) + " layers (free " +
                mib(req.gpus[g].free_bytes) + ", budget " + mib(budget[g]) + ")";
  }
  out.text += std::string("; output on ") + (output_on_gpu ? "GPU" : "CPU");
  if (req.n_gpu_layers >= 0) {
    // An explicit -ngl is obeyed; say so when it asks for more than the budget.
    size_t need = output_on_gpu ? fp.output_bytes : 0;
    for (int l = first; l < n_layer; ++l) need += fp.layer_bytes[l] + fp.kv_bytes_per_layer;
    if (need > total_budget)
      out.text += "; warning: -ngl " + std::to_string(req.n_gpu_layers) + " needs " + mib(need) +
                  " of GPU memory, the budget is " + mib(total_budget) + " (loading may run out of memory)";
  }
  return out;
}

std::vector<double> row_split_shares(const std::vector<DeviceInfo>& gpus, const std::vector<float>& tensor_split,
                                     size_t gpu_mem_limit) {
  std::vector<double> shares(gpus.size(), 0.0);
  double total = 0;
  for (size_t g = 0; g < gpus.size(); ++g) {
    if (!tensor_split.empty())
      shares[g] = g < tensor_split.size() ? std::max(0.0f, tensor_split[g]) : 0.0;
    else
      shares[g] = static_cast<double>(usable_bytes(gpus[g], gpu_mem_limit));
    total += shares[g];
  }
  if (total <= 0) shares.assign(gpus.size(), 1.0);
  return shares;
}

DeviceInfo row_split_device(const std::vector<DeviceInfo>& gpus, const std::vector<double>& shares,
                            size_t gpu_mem_limit, const std::string& name) {
  const double total = std::accumulate(shares.begin(), shares.end(), 0.0);
  DeviceInfo d;
  d.name = name;
  double fit = -1;
  for (size_t g = 0; g < gpus.size() && g < shares.size(); ++g) {
    d.total_bytes += gpus[g].total_bytes;
    if (shares[g] <= 0) continue;
    const double f = static_cast<double>(usable_bytes(gpus[g], gpu_mem_limit)) * total / shares[g];
    fit = fit < 0 ? f : std::min(fit, f);
  }
  d.free_bytes = fit < 0 ? 0 : static_cast<size_t>(fit);
  return d;
}

std::string describe_shares(const std::vector<double>& shares) {
  const double total = std::accumulate(shares.begin(), shares.end(), 0.0);
  std::string out;
  for (double s : shares) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.2f", total > 0 ? s / total : 0.0);
    if (!out.empty()) out += '/';
    out += buf;
  }
  return out;
}

}  // namespace hearth

// Placement is data: which backend each layer's weights live and run on.
// The same plan drives CPU-only runs, partial and full GPU offload and multi-GPU layer splits.
#pragma once
#include <cstddef>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "backend/backend.h"

namespace hearth {

struct PlacementPlan {
  std::vector<Backend*> backends;  // index 0 is always the CPU
  std::vector<int> layer_backend;  // [n_layer] index into backends
  int output_backend = 0;          // output norm + head
  std::string text;                // human-readable summary ("22/22 layers on CUDA0 ...")
  // The part of the model placed here (a pipeline stage; the whole model by default): layers
  // [layer_begin, layer_end), the token embeddings when input, the output norm + head when output.
  int layer_begin = 0;
  int layer_end = -1;  // -1: n_layer
  bool input = true;
  bool output = true;
  // A rank of a looped pipeline holds several ranges and runs one per pass ("lap"): ascending, disjoint, within
  // [layer_begin, layer_end). Empty: one lap, the whole range.
  std::vector<std::pair<int, int>> laps;
  int end(int n_layer) const { return layer_end < 0 ? n_layer : layer_end; }
  int n_laps() const { return laps.empty() ? 1 : static_cast<int>(laps.size()); }
  // The layers [first, second) of lap `lap`.
  std::pair<int, int> lap_range(int lap, int n_layer) const {
    return laps.empty() ? std::pair<int, int>{layer_begin, end(n_layer)} : laps.at(lap);
  }
  // Whether layer l is placed here.
  bool holds(int l, int n_layer) const {
    for (int k = 0; k < n_laps(); ++k) {
      auto [b, e] = lap_range(k, n_layer);
      if (l >= b && l < e) return true;
    }
    return false;
  }
};

// What the planner needs to know about a model.
struct ModelFootprint {
  std::vector<size_t> layer_bytes;  // weights per layer
  size_t output_bytes = 0;          // output norm + head (+ a copy of the embeddings when tied)
  size_t kv_bytes_per_layer = 0;    // KV cache for the requested context, one layer
  size_t act_bytes = 0;             // activation buffers per device
};

struct PlanRequest {
  int n_gpu_layers = -1;            // -1 automatic
  size_t gpu_mem_limit = 0;         // 0: free memory
  std::vector<float> tensor_split;  // per GPU share; empty: by free memory
  std::vector<DeviceInfo> gpus;     // measured
};

// Decides the number of layers per GPU (the rest on CPU, first layers first on CPU as llama.cpp does:
// the last layers and the output go to the GPU). Returns per-layer device indices: 0 = CPU, 1.. = GPU i-1;
// and the output device index.
struct LayerAssignment {
  std::vector<int> layer_device;
  int output_device = 0;
  std::string text;
};
LayerAssignment plan_layers(const ModelFootprint& fp, const PlanRequest& req);

// --split-mode row. The share of every matrix per GPU: tensor_split (missing entries 0), else each GPU's free
// memory (capped at gpu_mem_limit when set).
std::vector<double> row_split_shares(const std::vector<DeviceInfo>& gpus, const std::vector<float>& tensor_split,
                                     size_t gpu_mem_limit);
// The GPUs seen as one device by the planner: it can take what fits every GPU's share of it.
DeviceInfo row_split_device(const std::vector<DeviceInfo>& gpus, const std::vector<double>& shares,
                            size_t gpu_mem_limit, const std::string& name);
// "0.75/0.25"
std::string describe_shares(const std::vector<double>& shares);

}  // namespace hearth

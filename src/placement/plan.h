// Placement is data: which backend each layer's weights live and run on.
// The same plan drives CPU-only runs, partial and full GPU offload and multi-GPU layer splits.
#pragma once
#include <cstddef>
#include <memory>
#include <string>
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
  int end(int n_layer) const { return layer_end < 0 ? n_layer : layer_end; }
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

}  // namespace hearth

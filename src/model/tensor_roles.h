// Which part of a model a GGUF tensor belongs to, by its name: a layer ("blk.N.*"), the output head
// (output.weight and the final norm), or the input (everything else: token and position embeddings...).
// Splitting, streaming and memory planning sort tensors with these.
#pragma once
#include <string_view>

namespace hearth {

// The layer of a "blk.N.*" tensor, or -1.
inline int tensor_layer(std::string_view name) {
  if (name.rfind("blk.", 0) != 0) return -1;
  int l = 0;
  size_t i = 4;
  if (i >= name.size() || name[i] < '0' || name[i] > '9') return -1;
  while (i < name.size() && name[i] >= '0' && name[i] <= '9') l = l * 10 + (name[i++] - '0');
  return i < name.size() && name[i] == '.' ? l : -1;
}

// output.weight / output.bias and the final norm's weight and bias (LayerNorm architectures have one).
inline bool is_head_tensor(std::string_view name) {
  return name == "output.weight" || name == "output.bias" || name == "output_norm.weight" ||
         name == "output_norm.bias";
}

// Tensors every layer reads (RoPE frequency factors): each layer part of a split model carries a copy.
inline bool is_shared_by_layers(std::string_view name) {
  return name == "rope_freqs.weight" || name == "rope_factors_long.weight" || name == "rope_factors_short.weight";
}

}  // namespace hearth

// Internals of quantize_model (include/hearth/quantize.h) that tests look at.
#pragma once
#include <cstddef>
#include <vector>

#include "gguf/gguf.h"
#include "quant/mix.h"

namespace hearth {

// The facts the mix rules need, from general.architecture and {arch}.block_count,
// .attention.head_count(_kv), .expert_count, and the file's tensor names.
ModelFacts model_facts(const GgufFile& f);

// Indices into f.tensors() in llama-quantize's order: tensors outside blocks first, then block by
// block, by name within each (llama_model_loader's weight_name_comparer).
std::vector<size_t> llama_tensor_order(const GgufFile& f);

}  // namespace hearth

// ModelInfo from a GGUF file's metadata and tensor table (what `hearth info`, the load lines and the APIs show).
#include <algorithm>
#include <map>

#include "gguf/gguf.h"
#include "hearth/error.h"
#include "model/model_impl.h"

namespace hearth {
namespace {

// general.file_type (llama.cpp's llama_ftype) as Ollama names it ("Q4_K_M"), as `ollama show` and /api/tags'
// quantization_level print it; empty for ids no llama.cpp release writes (4-6 were removed, 33-35 too).
std::string file_type_label(uint64_t id) {
  static const char* const kNames[] = {
      "F32",     "F16",    "Q4_0",   "Q4_1",   "",       "",      "",      "Q8_0",   "Q5_0",   "Q5_1",
      "Q2_K",    "Q3_K_S", "Q3_K_M", "Q3_K_L", "Q4_K_S", "Q4_K_M", "Q5_K_S", "Q5_K_M", "Q6_K",  "IQ2_XXS",
      "IQ2_XS",  "Q2_K_S", "IQ3_XS", "IQ3_XXS", "IQ1_S", "IQ4_NL", "IQ3_S", "IQ3_M",  "IQ2_S",  "IQ2_M",
      "IQ4_XS",  "IQ1_M",  "BF16",   "",       "",       "",      "TQ1_0", "TQ2_0",  "MXFP4_MOE"};
  constexpr uint64_t n = sizeof kNames / sizeof kNames[0];
  return id < n ? kNames[id] : "";
}

}  // namespace

ModelInfo model_info_from_gguf(const GgufFile& f, const HParams& h) {
  ModelInfo info;
  info.path = f.path();
  info.name = f.get_string("general.name");
  info.arch = h.arch;
  info.file_size = f.file_size();
  info.n_ctx_train = h.n_ctx_train;
  info.n_embd = h.n_embd;
  info.n_layer = h.n_layer;
  info.n_head = h.n_head;
  info.n_head_kv = h.n_head_kv;
  info.n_ff = h.n_ff;
  info.n_expert = h.n_expert;
  info.n_expert_used = h.n_expert_used;
  info.n_ff_exp = h.n_ff_exp;
  info.n_vocab = h.n_vocab;
  info.head_dim = h.head_dim;
  info.tokenizer_model = f.get_string("tokenizer.ggml.model");
  info.tokenizer_pre = f.get_string("tokenizer.ggml.pre");
  info.chat_template = f.get_string("tokenizer.chat_template");
  // The dominant type is the one holding the most bytes among 2-D weights.
  std::map<std::string, uint64_t> bytes_by_type;
  for (const GgufTensor& t : f.tensors()) {
    info.n_params += static_cast<uint64_t>(t.n_elements());
    info.weight_bytes += t.nbytes;
    std::string type(dtype_name(t.type));
    info.tensor_types[type] += 1;
    if (t.n_dims >= 2) bytes_by_type[type] += t.nbytes;
  }
  // The label is the file type the writer declared (a Q4_K_M file holds Q6_K and Q8_0 tensors too, which on a
  // small model can hold most of the bytes); the dominant type only when the file declares none we know.
  try {
    if (f.has("general.file_type")) info.file_type = file_type_label(f.get_uint("general.file_type", 0));
  } catch (const Error&) {
    // a file_type that is not a non-negative integer: ignored like an unknown id
  }
  auto best = std::max_element(bytes_by_type.begin(), bytes_by_type.end(),
                               [](const auto& a, const auto& b) { return a.second < b.second; });
  if (info.file_type.empty() && best != bytes_by_type.end()) {
    info.file_type = best->first;
    std::transform(info.file_type.begin(), info.file_type.end(), info.file_type.begin(), ::toupper);
  }
  return info;
}

ModelInfo inspect_model(const std::string& path) {
  std::unique_ptr<GgufFile> f = GgufFile::open(path);
  HParams h;
  try {
    h = hparams_from_gguf(*f);
  } catch (const Error&) {
    h.arch = f->get_string("general.architecture", "unknown");  // describe what we can
  }
  return model_info_from_gguf(*f, h);
}

}  // namespace hearth

#include <algorithm>
#include <map>

#include "gguf/gguf.h"
#include "hearth/error.h"
#include "model/model_impl.h"

namespace hearth {

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
  auto best = std::max_element(bytes_by_type.begin(), bytes_by_type.end(),
                               [](const auto& a, const auto& b) { return a.second < b.second; });
  if (best != bytes_by_type.end()) {
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

// References computed in one process on the CPU: greedy decoding from BOS alone, one token at a time at positions
// 0..n-1, as llama2.c's run.c does (how the stories260K fixture's expected ids were made), and the text generate()
// gives for a prompt.
#pragma once
#include <algorithm>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "hearth/generate.h"
#include "hearth/model.h"
#include "hearth/session.h"

namespace hearth::test {

inline int argmax(const float* v, int n) { return static_cast<int>(std::max_element(v, v + n) - v); }

// The model at path on the CPU alone, with n_threads threads.
inline std::unique_ptr<Model> load_cpu(const std::string& path, int n_threads = 2) {
  LoadParams lp;
  lp.n_threads = n_threads;
  lp.n_gpu_layers = 0;
  return Model::load(path, lp);
}

// The model at path loaded with lp; where (optional) receives its placement.
inline std::vector<int> greedy_from_bos(const std::string& path, const LoadParams& lp, int n, bool kv_f32 = false,
                                        PlacementSummary* where = nullptr) {
  auto model = Model::load(path, lp);
  if (where) *where = model->placement();
  SessionParams sp;
  sp.n_ctx = 256;
  sp.kv_f32 = kv_f32;
  Session s(*model, sp);
  std::vector<int> out;
  int32_t tok = model->bos();
  for (int i = 0; i < n; ++i) {
    const float* logits = s.decode(std::span<const int32_t>(&tok, 1));
    tok = argmax(logits, s.n_vocab());
    out.push_back(tok);
  }
  return out;
}

// On the CPU with n_threads threads.
inline std::vector<int> greedy_from_bos_cpu(const std::string& path, int n, int n_threads = 2, bool kv_f32 = false) {
  LoadParams lp;
  lp.n_threads = n_threads;
  lp.n_gpu_layers = 0;
  return greedy_from_bos(path, lp, n, kv_f32);
}

// The text generate() gives for prompt(model) with g, the model at path on the CPU.
inline std::string one_process_text(const std::string& path,
                                    const std::function<std::vector<int32_t>(const Model&)>& prompt,
                                    const GenerateParams& g, int n_ctx, int n_threads) {
  LoadParams lp;
  lp.n_threads = n_threads;
  lp.n_gpu_layers = 0;
  auto model = Model::load(path, lp);
  SessionParams sp;
  sp.n_ctx = n_ctx;
  Session s(*model, sp);
  std::string out;
  generate(s, prompt(*model), g, [&](const std::string& t) {
    out += t;
    return true;
  });
  return out;
}

}  // namespace hearth::test

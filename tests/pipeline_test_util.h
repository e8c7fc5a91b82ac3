// Helpers shared by the pipeline tests: greedy decoding through a chain of stages and through the ordinary
// single-model path, and a small TinyLlama-proportioned model written with the project generator.
#pragma once
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "hearth/model.h"
#include "hearth/session.h"
#include "llama_gen.h"
#include "pipeline/stage.h"
#include "test_util.h"

namespace hearth::test {

inline std::string tmp_dir(const std::string& name) {
  std::string dir = std::string(HEARTH_TEST_TMP) + "/" + name;
  std::filesystem::create_directories(dir);
  return dir;
}

inline int argmax(const float* v, int n) { return static_cast<int>(std::max_element(v, v + n) - v); }

inline LoadParams cpu_load(bool repack = true) {
  LoadParams lp;
  lp.n_threads = 2;
  lp.n_gpu_layers = 0;
  lp.repack = repack;
  return lp;
}

inline SessionParams stage_params(int n_ctx) {
  SessionParams sp;
  sp.n_ctx = n_ctx;
  sp.n_batch = 64;
  sp.n_seq = 1;
  return sp;
}

struct GreedyRun {
  std::vector<int> ids;                    // generated tokens
  std::vector<std::vector<float>> logits;  // the logits each token was chosen from
};

// The prompt as one batch, then n_gen tokens one at a time, through the ordinary Session.
inline GreedyRun greedy_single(const std::string& path, const std::vector<int32_t>& prompt, int n_gen,
                               const LoadParams& lp, int n_ctx = 256) {
  auto model = Model::load(path, lp);
  Session s(*model, stage_params(n_ctx));
  GreedyRun r;
  std::vector<int32_t> next = prompt;
  for (int i = 0; i < n_gen; ++i) {
    const float* logits = s.decode(next);
    r.logits.emplace_back(logits, logits + s.n_vocab());
    int tok = argmax(logits, s.n_vocab());
    r.ids.push_back(tok);
    next = {tok};
  }
  return r;
}

// The same through stages visited in the order of route (stage index, lap), the hidden state handed from stage
// to stage in memory: the first visit takes the token ids, the last gives the logits.
inline GreedyRun greedy_route(const std::vector<std::unique_ptr<pipeline::Stage>>& stages,
                              const std::vector<std::pair<int, int>>& route, const std::vector<int32_t>& prompt,
                              int n_gen) {
  const int n_embd = stages.front()->shape().n_embd;
  const int n_vocab = stages.back()->shape().n_vocab;
  GreedyRun r;
  std::vector<int32_t> next = prompt;
  int n_past = 0;
  for (int i = 0; i < n_gen; ++i) {
    const int n = static_cast<int>(next.size());
    std::vector<int32_t> pos(n), seq(n, 0);
    for (int t = 0; t < n; ++t) pos[t] = n_past + t;
    std::vector<float> a(static_cast<size_t>(n) * n_embd), b(a.size()), logits(n_vocab);
    const float* in = nullptr;
    for (size_t v = 0; v < route.size(); ++v) {
      const bool last = v + 1 == route.size();
      const auto [s, lap] = route[v];
      stages[s]->forward_lap(lap, v == 0 ? next.data() : nullptr, in, pos.data(), seq.data(), n,
                             last ? nullptr : a.data(), {n - 1}, last ? logits.data() : nullptr);
      std::swap(a, b);
      in = b.data();
    }
    n_past += n;
    r.logits.push_back(logits);
    int tok = argmax(logits.data(), n_vocab);
    r.ids.push_back(tok);
    next = {tok};
  }
  return r;
}

// A chain: each stage once, in order.
inline GreedyRun greedy_chain(const std::vector<std::unique_ptr<pipeline::Stage>>& stages,
                              const std::vector<int32_t>& prompt, int n_gen) {
  std::vector<std::pair<int, int>> route;
  for (size_t s = 0; s < stages.size(); ++s) route.push_back({static_cast<int>(s), 0});
  return greedy_route(stages, route, prompt, n_gen);
}

// A looped pipeline: lap 0 on every stage in order, then lap 1, ...
inline GreedyRun greedy_loop(const std::vector<std::unique_ptr<pipeline::Stage>>& stages,
                             const std::vector<int32_t>& prompt, int n_gen) {
  std::vector<std::pair<int, int>> route;
  for (size_t lap = 0; lap < stages.front()->shape().laps.size(); ++lap)
    for (size_t s = 0; s < stages.size(); ++s) route.push_back({static_cast<int>(s), static_cast<int>(lap)});
  return greedy_route(stages, route, prompt, n_gen);
}

inline std::vector<std::unique_ptr<pipeline::Stage>> open_chain(const std::string& path,
                                                                const std::vector<pipeline::StageSpec>& specs,
                                                                const LoadParams& lp, int n_ctx = 256) {
  std::vector<std::unique_ptr<pipeline::Stage>> out;
  for (const auto& s : specs) out.push_back(pipeline::Stage::open(path, s, lp, stage_params(n_ctx)));
  return out;
}

inline float max_abs_diff(const GreedyRun& a, const GreedyRun& b) {
  float d = 0;
  for (size_t i = 0; i < std::min(a.logits.size(), b.logits.size()); ++i)
    for (size_t j = 0; j < std::min(a.logits[i].size(), b.logits[i].size()); ++j)
      d = std::max(d, std::abs(a.logits[i][j] - b.logits[i][j]));
  return d;
}

// TinyLlama's proportions (32 query heads, 4 KV heads, ff = 2.75 x n_embd) at a width and depth that run in
// milliseconds per token: n_embd 512, 8 layers, synthetic 1024-token vocabulary, Q4_0 (llama-quantize's mix).
inline std::string tinyllama_shaped(const std::string& type = "q4_0", bool tied = false) {
  std::string path = tmp_dir("pipeline") + "/tinyllama-shaped-" + type + (tied ? "-tied" : "") + ".gguf";
  if (std::filesystem::exists(path)) return path;
  gen::GenOptions opt;
  opt.shape = gen::shape_preset("tinyllama");
  opt.shape.n_embd = 512;
  opt.shape.n_ff = 1408;
  opt.shape.n_layer = 8;
  opt.shape.n_vocab = 1024;
  opt.file_type = gen::file_type_from_name(type);
  opt.tied_output = tied;
  opt.scale = 0.08f;  // larger weights than the default give logits with clear winners
  opt.threads = 2;
  // Written under a per-process name and renamed: test cases may run in parallel processes.
  const std::string mine = path + "." + std::to_string(::getpid());
  gen::generate_llama(opt, mine);
  std::filesystem::rename(mine, path);
  return path;
}

}  // namespace hearth::test

// hearth logits: the next-token logits after a prompt, for comparing engines on the same file.
#include <algorithm>
#include <cstdio>
#include <fstream>
#include <numeric>
#include <sstream>

#include "commands.h"
#include "hearth/session.h"

namespace hearth::cli {
namespace {

struct LogitsOptions {
  ModelOptions model;
  std::string prompt;
  std::string ids;  // comma-separated token ids instead of a prompt
  std::string out;  // raw float32 logits of every position, [n_tokens, n_vocab]
  int top = 10;
};

int logits(LogitsOptions& o) {
  const std::string name = o.model.model;
  o.model.model = resolve_model(o.model.model, o.model.models_dir);
  LoadParams lp = load_params(o.model);
  show_load_progress(lp, name);
  auto model = Model::load(o.model.model, lp);
  std::vector<int32_t> tokens;
  if (!o.ids.empty()) {
    std::stringstream ss(o.ids);
    std::string part;
    while (std::getline(ss, part, ',')) tokens.push_back(std::stoi(part));
  } else {
    tokens = model->tokenize(o.prompt, true, true);
  }
  if (tokens.empty()) throw Error("no tokens to evaluate");
  SessionParams sp;
  sp.n_ctx = std::max<int>(static_cast<int>(tokens.size()), o.model.n_ctx);
  Session s(*model, sp);
  const int nv = s.n_vocab();
  std::vector<float> all(tokens.size() * nv);
  s.decode_all(tokens, all.data());
  if (!o.out.empty()) {
    std::ofstream f(o.out, std::ios::binary);
    f.write(reinterpret_cast<const char*>(all.data()), static_cast<std::streamsize>(all.size() * sizeof(float)));
    if (!f) throw Error("cannot write " + o.out);
  }
  std::printf("tokens:");
  for (int32_t t : tokens) std::printf(" %d", t);
  std::printf("\n");
  const float* last = &all[(tokens.size() - 1) * nv];
  std::vector<int> idx(nv);
  std::iota(idx.begin(), idx.end(), 0);
  int k = std::min(o.top, nv);
  std::partial_sort(idx.begin(), idx.begin() + k, idx.end(), [&](int a, int b) { return last[a] > last[b]; });
  for (int i = 0; i < k; ++i)
    std::printf("%6d %12.6f %s\n", idx[i], last[idx[i]], model->token_to_piece(idx[i]).c_str());
  return 0;
}

}  // namespace

Runner add_logits(CLI::App& app) {
  auto o = std::make_shared<LogitsOptions>();
  CLI::App* cmd = app.add_subcommand("logits", "print the top next-token logits after a prompt (engine comparison)");
  cmd->add_option("-m,--model", o->model.model, "the model: a GGUF file, a store name, or hf:ORG/REPO/FILE.gguf")
      ->required();
  add_models_option(*cmd, o->model.models_dir);
  add_model_options(*cmd, o->model);
  cmd->add_option("-p,--prompt", o->prompt, "prompt (BOS added as the vocabulary asks)");
  cmd->add_option("--ids", o->ids, "comma-separated token ids instead of a prompt");
  cmd->add_option("--out", o->out, "write all logits as raw float32 [n_tokens, n_vocab]");
  cmd->add_option("--top", o->top, "how many top logits to print");
  return [o] { return logits(*o); };
}

}  // namespace hearth::cli

// hearth perplexity: perplexity of a model on a text (llama-perplexity's method, so the numbers compare), and
// with --kl-base the KL divergence and top-1 agreement against a base model: what a quantization costs.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <memory>
#include <sstream>

#include "commands.h"
#include "hearth/perplexity.h"

namespace hearth::cli {
namespace {

struct PerplexityOptions {
  ModelOptions model;
  std::string text_file;
  std::string kl_base;  // base model (e.g. the F16 file) for KL divergence
  int n_batch = 512;
  int n_chunks = -1;
  bool kv_f32 = false;
};

// The text as llama.cpp reads it: the whole file, less one trailing newline.
std::string read_text(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw Error("cannot open text file " + path);
  std::ostringstream ss;
  ss << f.rdbuf();
  std::string s = ss.str();
  if (!s.empty() && s.back() == '\n') s.pop_back();
  return s;
}

std::unique_ptr<Model> load(const std::string& source, const ModelOptions& mo, int n_kv) {
  ModelOptions o = mo;
  o.n_ctx = n_kv;  // the planner leaves room for the KV cache of every sequence evaluated together
  const std::string path = resolve_model(source, mo.models_dir);
  LoadParams lp = load_params(o);
  show_load_progress(lp, source);
  auto model = Model::load(path, lp);
  std::fprintf(stderr, "hearth: loaded %s (%s, %s); %s\n", source.c_str(), model->info().arch.c_str(),
               model->info().file_type.c_str(), model->placement().text.c_str());
  return model;
}

void print_kl_summary(const PerplexityResult& r) {
  std::printf("\n====== Perplexity statistics ======\n");
  std::printf("Mean PPL(Q)                   : %10.6f ± %10.6f\n", r.ppl, r.ppl_err);
  std::printf("Mean PPL(base)                : %10.6f ± %10.6f\n", r.base_ppl, r.base_ppl_err);
  std::printf("Mean ln(PPL(Q)/PPL(base))     : %10.6f ± %10.6f\n", r.log_ppl_ratio, r.log_ppl_ratio_err);
  std::printf("Mean PPL(Q)/PPL(base)         : %10.6f ± %10.6f\n", std::exp(r.log_ppl_ratio),
              std::exp(r.log_ppl_ratio) * r.log_ppl_ratio_err);
  std::printf("\n====== KL divergence statistics ======\n");
  std::printf("Mean    KLD: %10.6f ± %10.6f\n", r.kl, r.kl_err);
  std::printf("Maximum KLD: %10.6f\n", r.kl_max);
  std::printf("99.0%%   KLD: %10.6f\n", r.kl_p99);
  std::printf("Median  KLD: %10.6f\n", r.kl_median);
  std::printf("\n====== Token probability statistics ======\n");
  std::printf("Same top p: %6.3f ± %5.3f %%\n", 100 * r.top1, 100 * r.top1_err);
}

int perplexity(PerplexityOptions& o) {
  PerplexityParams p;
  p.n_ctx = o.model.n_ctx > 0 ? o.model.n_ctx : 512;
  p.n_batch = o.n_batch;
  p.n_chunks = o.n_chunks;
  p.kv_f32 = o.kv_f32;
  const std::string text = read_text(o.text_file);
  const int n_kv = p.n_ctx * std::max(1, p.n_batch / p.n_ctx);

  auto model = load(o.model.model, o.model, n_kv);
  std::unique_ptr<Model> base;
  if (!o.kl_base.empty()) base = load(o.kl_base, o.model, n_kv);
  // Tokenized once, BOS as the vocabulary says, special-token text taken literally (as llama-perplexity does).
  const std::vector<int32_t> tokens = model->tokenize(text, true, false);
  if (base && base->tokenize(text, true, false) != tokens)
    throw Error("the base model tokenizes the text differently (KL divergence needs the same tokenizer)");

  const auto t0 = std::chrono::steady_clock::now();
  bool first = true;
  auto progress = [&](const PerplexityResult& r) {
    if (first) {
      const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      const int n_par = perplexity_parallel(p, r.n_tokens);
      std::fprintf(stderr, "perplexity: %d tokens, %d chunks of %d, batch %d (%d sequence%s per pass)\n",
                   r.n_tokens, r.n_chunks_total, r.n_ctx, p.n_batch, n_par, n_par == 1 ? "" : "s");
      std::fprintf(stderr, "perplexity: %.2f seconds per pass - ETA %.2f minutes\n", s,
                   s * ((r.n_chunks_total + n_par - 1) / n_par) / 60.0);
      if (base)
        std::printf("chunk             PPL               ln(PPL(Q)/PPL(base))          KL Divergence"
                    "          Same top p\n");
      first = false;
    }
    if (base) {
      std::printf("%4d    %9.4f ± %9.4f    %10.5f ± %10.5f    %10.5f ± %10.5f    %6.3f ± %6.3f %%\n", r.n_chunks,
                  r.ppl, r.ppl_err, r.log_ppl_ratio, r.log_ppl_ratio_err, r.kl, r.kl_err, 100 * r.top1,
                  100 * r.top1_err);
    } else {
      std::printf("[%d]%.4f,", r.n_chunks, r.chunk_ppl.back());
    }
    std::fflush(stdout);
  };
  const PerplexityResult r =
      base ? kl_divergence(*model, *base, tokens, p, progress) : hearth::perplexity(*model, tokens, p, progress);
  if (!base) std::printf("\n");
  std::printf("Final estimate: PPL = %.4f +/- %.5f\n", r.ppl, r.ppl_err);
  if (base) print_kl_summary(r);
  return 0;
}

}  // namespace

Runner add_perplexity(CLI::App& app) {
  auto o = std::make_shared<PerplexityOptions>();
  CLI::App* cmd = app.add_subcommand(
      "perplexity", "perplexity of a model on a text; with --kl-base, KL divergence against a base model");
  cmd->add_option("-m,--model", o->model.model, "the model: a GGUF file, a store name, or hf:ORG/REPO/FILE.gguf")
      ->required();
  add_models_option(*cmd, o->model.models_dir);
  cmd->add_option("-f,--file", o->text_file, "text file to evaluate")->required();
  add_model_options(*cmd, o->model);
  cmd->get_option("--ctx-size")->description("tokens per chunk (default 512, as llama-perplexity)");
  cmd->add_option("-b,--batch-size", o->n_batch, "tokens per forward pass; several chunks share one when larger")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--chunks", o->n_chunks, "evaluate at most this many chunks (default: all)");
  cmd->add_option("--kl-base", o->kl_base, "base model (e.g. F16) for KL divergence and top-1 agreement");
  cmd->add_flag("--kv-f32", o->kv_f32, "F32 KV cache (default F16, as llama.cpp)");
  return [o] { return perplexity(*o); };
}

}  // namespace hearth::cli

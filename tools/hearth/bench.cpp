// hearth bench: llama-bench-style speed table (pp = prompt processing, tg = token generation).
#include <chrono>
#include <cmath>
#include <cstdio>
#include <numeric>
#include <random>
#include <sstream>
#include <thread>

#include "bench_batched.h"
#include "commands.h"
#include "hearth/session.h"
#include "pipeline_cli.h"

namespace hearth::cli {
namespace {

struct BenchOptions {
  ModelOptions model;
  std::string prompt_sizes = "512";
  std::string gen_sizes = "128";
  std::string threads;
  int reps = 5;
  std::string output = "md";
  std::string parallel;  // sequences evaluated together (aggregate tokens/s), comma-separated
};

std::vector<int> parse_list(const std::string& s) {
  std::vector<int> out;
  std::stringstream ss(s);
  std::string part;
  while (std::getline(ss, part, ','))
    if (!part.empty()) out.push_back(std::stoi(part));
  return out;
}

struct Result {
  std::string test;
  int threads;
  double mean, sd;
};

Result summarize(const std::string& test, int threads, const std::vector<double>& v) {
  double mean = std::accumulate(v.begin(), v.end(), 0.0) / v.size(), ss = 0;
  for (double x : v) ss += (x - mean) * (x - mean);
  return {test, threads, mean, v.size() > 1 ? std::sqrt(ss / (v.size() - 1)) : 0.0};
}

double seconds_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

// tokens/s of one repetition: a fresh prompt of n tokens (pp) or n single-token steps (tg).
double measure(Model& model, bool prompt, int n, std::mt19937& rng) {
  SessionParams sp;
  sp.n_ctx = n + 1;
  sp.n_batch = prompt ? n : 1;
  Session s(model, sp);
  std::uniform_int_distribution<int> tok(0, s.n_vocab() - 1);
  std::vector<int32_t> tokens(n);
  for (int& t : tokens) t = tok(rng);
  if (prompt) {
    auto t0 = std::chrono::steady_clock::now();
    s.decode(tokens);
    return n / seconds_since(t0);
  }
  int32_t first = model.bos() >= 0 ? model.bos() : 0;
  s.decode(std::span<const int32_t>(&first, 1));  // warm the first position
  auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < n; ++i) s.decode(std::span<const int32_t>(&tokens[i], 1));
  return n / seconds_since(t0);
}

int bench(BenchOptions& o) {
  if (o.model.model.empty()) throw Error("no model given (use -m MODEL.gguf)");
  const std::string name = o.model.model;
  const std::string path = resolve_model(o.model.model, o.model.models_dir);
  std::vector<int> thread_list = o.threads.empty() ? std::vector<int>{0} : parse_list(o.threads);
  std::vector<Result> results;
  std::mt19937 rng(42);
  ModelInfo info;
  std::string backend;
  for (int t : thread_list) {
    ModelOptions mo = o.model;
    mo.threads = t;
    LoadParams lp = load_params(mo);
    show_load_progress(lp, name);
    auto model = Model::load(path, lp);
    info = model->info();
    backend = model->placement().layer_device.empty() ? "CPU" : model->placement().layer_device.back();
    if (!o.model.mem_budget.empty()) backend += "+stream";
    int nt = t > 0 ? t : static_cast<int>(std::thread::hardware_concurrency());
    if (!o.parallel.empty()) {
      const std::vector<int> pps = parse_list(o.prompt_sizes), tgs = parse_list(o.gen_sizes);
      const int pp = pps.empty() ? 0 : pps[0], tg = tgs.empty() ? 0 : tgs[0];
      for (int n_seq : parse_list(o.parallel)) {
        if (n_seq <= 0) throw Error("--parallel takes positive sequence counts");
        measure_batched(*model, n_seq, std::min(pp, 16), std::min(tg, 4), 1);  // warm-up
        std::vector<double> vp, vt;
        for (int r = 0; r < o.reps; ++r) {
          const BatchedResult b = measure_batched(*model, n_seq, pp, tg, 2 + r);
          vp.push_back(b.pp_tps), vt.push_back(b.tg_tps);
        }
        const std::string tag = " x" + std::to_string(n_seq);
        if (pp > 0) results.push_back(summarize("pp" + std::to_string(pp) + tag, nt, vp));
        if (tg > 0) results.push_back(summarize("tg" + std::to_string(tg) + tag, nt, vt));
      }
      continue;
    }
    for (bool prompt : {true, false}) {
      for (int n : parse_list(prompt ? o.prompt_sizes : o.gen_sizes)) {
        if (n <= 0) continue;
        measure(*model, prompt, std::min(n, 16), rng);  // warm-up
        std::vector<double> v;
        for (int r = 0; r < o.reps; ++r) v.push_back(measure(*model, prompt, n, rng));
        results.push_back(summarize((prompt ? "pp" : "tg") + std::to_string(n), nt, v));
        if (o.output == "md")
          std::fprintf(stderr, "  %s t=%d: %.2f ± %.2f tok/s\n", results.back().test.c_str(), nt, results.back().mean,
                       results.back().sd);
      }
    }
    // Layer streaming: how much was read and how long compute waited for it (streaming is free when it never
    // waits: a group loads in less time than the others take to compute).
    if (const StreamCounters c = model->stream_counters(); c.n_groups > 0)
      std::fprintf(stderr,
                   "  layer streaming t=%d: %d groups, %d slots of %.1f MiB; read %.1f MiB in %.2f s; compute %.2f s, "
                   "waited %.2f s for loads\n",
                   nt, c.n_groups, c.n_slots, c.slot_bytes / 1048576.0, c.bytes_read / 1048576.0, c.load_s,
                   c.compute_s, c.wait_s);
  }
  double size_gib = info.weight_bytes / 1073741824.0;
  double params_b = info.n_params / 1e9;
  if (o.output == "json") {
    std::printf("[\n");
    for (size_t i = 0; i < results.size(); ++i)
      std::printf("  {\"model\": \"%s\", \"type\": \"%s\", \"size_bytes\": %llu, \"params\": %llu, \"backend\": \"%s\", "
                  "\"threads\": %d, \"test\": \"%s\", \"avg_ts\": %.4f, \"stddev_ts\": %.4f}%s\n",
                  info.arch.c_str(), info.file_type.c_str(), static_cast<unsigned long long>(info.weight_bytes),
                  static_cast<unsigned long long>(info.n_params), backend.c_str(), results[i].threads,
                  results[i].test.c_str(), results[i].mean, results[i].sd, i + 1 < results.size() ? "," : "");
    std::printf("]\n");
  } else if (o.output == "csv") {
    std::printf("model,type,size_bytes,params,backend,threads,test,avg_ts,stddev_ts\n");
    for (const Result& r : results)
      std::printf("%s,%s,%llu,%llu,%s,%d,%s,%.4f,%.4f\n", info.arch.c_str(), info.file_type.c_str(),
                  static_cast<unsigned long long>(info.weight_bytes), static_cast<unsigned long long>(info.n_params),
                  backend.c_str(), r.threads, r.test.c_str(), r.mean, r.sd);
  } else {
    std::printf("| model | size | params | backend | threads | test | t/s |\n");
    std::printf("| ----- | ---: | -----: | ------- | ------: | ---: | --: |\n");
    for (const Result& r : results)
      std::printf("| %s %s | %.2f GiB | %.2f B | %s | %d | %s | %.2f ± %.2f |\n", info.arch.c_str(),
                  info.file_type.c_str(), size_gib, params_b, backend.c_str(), r.threads, r.test.c_str(), r.mean,
                  r.sd);
  }
  return 0;
}

}  // namespace

Runner add_bench(CLI::App& app) {
  auto o = std::make_shared<BenchOptions>();
  CLI::App* cmd = app.add_subcommand(
      "bench", "measure prompt processing and generation speed (llama-bench style); bench --eval: see hearth eval");
  cmd->add_option("-m,--model", o->model.model, "the model: a GGUF file, a store name, or hf:ORG/REPO/FILE.gguf")
      ->required();
  add_models_option(*cmd, o->model.models_dir);
  cmd->add_option("-p,--n-prompt", o->prompt_sizes, "prompt lengths, comma-separated (0: skip)");
  cmd->add_option("-n,--n-gen", o->gen_sizes, "generation lengths, comma-separated (0: skip)");
  cmd->add_option("-t,--threads", o->threads, "thread counts, comma-separated");
  cmd->add_option("-r,--repetitions", o->reps, "repetitions per test")->check(CLI::PositiveNumber);
  cmd->add_option("--parallel", o->parallel,
                  "sequences evaluated together, comma-separated: aggregate pp/tg tokens/s as llama-batched-bench "
                  "measures them (test names end in xN)");
  cmd->add_option("-o,--output", o->output, "md, json or csv")->check(CLI::IsMember({"md", "json", "csv"}));
  cmd->add_option("--n-gpu-layers", o->model.n_gpu_layers, "(-ngl) layers on GPU (-1: automatic)");
  cmd->add_option("--gpu-mem-limit", o->model.gpu_mem_limit, "GPU memory cap (e.g. 8G)");
  cmd->add_flag("--no-repack", o->model.no_repack, "CPU: use weights in place instead of a packed copy");
  cmd->add_option("--mem-budget", o->model.mem_budget,
                  "layer weights kept in memory (e.g. 2G); the rest are streamed from the file (CPU)");
  add_flash_attn_option(*cmd, o->model.flash_attn);
  auto pipe = add_pipeline_options(*cmd);
  return [o, pipe] {
    if (!pipe->enabled) return bench(*o);
    PipelineBenchArgs a{o->model, parse_list(o->prompt_sizes).at(0), parse_list(o->gen_sizes).at(0), o->reps,
                        o->parallel.empty() ? 1 : parse_list(o->parallel).at(0), o->output};
    if (!o->threads.empty()) a.model.threads = parse_list(o->threads).at(0);
    return bench_pipeline(a, *pipe);
  };
}

}  // namespace hearth::cli

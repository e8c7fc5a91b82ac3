// hearth bench --pipeline: prompt and generation tokens/s through the stages of an MPI job, bytes on the wire
// per token and each stage's compute time. Rank 0 prints; the others serve.
#include <chrono>
#include <cmath>
#include <cstdio>
#include <numeric>
#include <random>

#include "pipeline_cli.h"

namespace hearth::cli {

#ifdef HEARTH_HAVE_MPI

namespace {

using Clock = std::chrono::steady_clock;

double mean_of(const std::vector<double>& v) {
  return v.empty() ? 0 : std::accumulate(v.begin(), v.end(), 0.0) / v.size();
}
double sd_of(const std::vector<double>& v) {
  if (v.size() < 2) return 0;
  const double m = mean_of(v);
  double ss = 0;
  for (double x : v) ss += (x - m) * (x - m);
  return std::sqrt(ss / (v.size() - 1));
}

}  // namespace

int bench_pipeline(const PipelineBenchArgs& a, const PipelineCliOptions& p) {
  if (a.model.model.empty()) throw Error("no model given (use -m MODEL.gguf)");
  if (a.n_prompt < 1) throw Error("bench --pipeline needs a prompt length of at least 1 (-p)");
  if (a.parallel < 1) throw Error("--parallel takes a positive sequence count");
  pipeline::PipelineOptions po = pipeline_options_on_rank(a.model, p);
  po.session.n_seq = a.parallel;
  po.session.n_batch = std::min(a.n_prompt, 512);
  if (po.session.n_ctx <= 0) po.session.n_ctx = a.n_prompt + a.n_gen + 1;
  return with_pipeline(p, [&](pipeline::MpiTransport& t) {
    pipeline::Pipeline pipe(t, po);
    if (!pipe.is_driver()) {
      pipe.serve();
      return 0;
    }
    const Model& model = pipe.model();
    const int n_vocab = pipe.shape().n_vocab;
    std::fprintf(stderr, "hearth: pipeline of %d ranks (wire %s): %s\n", pipe.size(), p.wire.c_str(),
                 pipe.plan_text().c_str());
    std::mt19937 rng(42);
    std::uniform_int_distribution<int> tok(0, n_vocab - 1);
    std::vector<double> pp, tg;
    uint64_t tokens = 0;
    for (int rep = 0; rep < a.reps; ++rep) {
      std::vector<pipeline::PipelineRequest> reqs(a.parallel);
      for (int s = 0; s < a.parallel; ++s) {
        if (rep > 0) pipe.clear(s);
        auto& r = reqs[s];
        r.prompt.resize(a.n_prompt);
        for (int32_t& x : r.prompt) x = tok(rng);
        r.params.n_predict = a.n_gen;
        r.params.sampling.temperature = 0;
        // Generation runs its full length: end-of-generation tokens are banned.
        for (int32_t id = 0; id < n_vocab; ++id)
          if (model.is_eog(id)) r.params.sampling.logit_bias.push_back({id, -INFINITY});
        r.on_text = [](const std::string&) { return true; };
      }
      const auto t0 = Clock::now();
      std::vector<GenerateStats> st = pipe.generate(reqs);
      const double total_s = std::chrono::duration<double>(Clock::now() - t0).count();
      double prompt_s = 0;
      int gen = 0;
      for (const auto& s : st) {
        prompt_s = std::max(prompt_s, s.prompt_ms / 1000);
        gen += s.n_gen;
        tokens += s.n_prompt + s.n_gen;
      }
      pp.push_back(a.parallel * a.n_prompt / std::max(prompt_s, 1e-9));
      // The first token of each sequence comes with its prompt: generation is the rest.
      if (a.n_gen > 1) tg.push_back((gen - a.parallel) / std::max(total_s - prompt_s, 1e-9));
    }
    std::vector<pipeline::StageReport> reports = pipe.finish();
    uint64_t wire = 0;
    for (const auto& r : reports) wire += r.data_bytes_sent;
    const std::string tag = a.parallel > 1 ? " x" + std::to_string(a.parallel) : "";
    const std::string pp_name = "pp" + std::to_string(a.n_prompt) + tag, tg_name = "tg" + std::to_string(a.n_gen) + tag;
    const double per_token = tokens ? static_cast<double>(wire) / tokens : 0;
    if (a.output == "json") {
      std::printf("{\"ranks\": %d, \"wire\": \"%s\", \"plan\": \"%s\", \"tests\": [", pipe.size(), p.wire.c_str(),
                  pipe.plan_text().c_str());
      std::printf("{\"test\": \"%s\", \"avg_ts\": %.4f, \"stddev_ts\": %.4f}", pp_name.c_str(), mean_of(pp), sd_of(pp));
      if (!tg.empty())
        std::printf(", {\"test\": \"%s\", \"avg_ts\": %.4f, \"stddev_ts\": %.4f}", tg_name.c_str(), mean_of(tg),
                    sd_of(tg));
      std::printf("], \"wire_bytes_per_token\": %.1f, \"stages\": [", per_token);
      for (size_t i = 0; i < reports.size(); ++i) {
        const auto& r = reports[i];
        std::printf(
            "%s{\"rank\": %d, \"host\": \"%s\", \"layers\": \"%s\", \"compute_s\": %.4f, \"wait_s\": %.4f, "
            "\"micro_batches\": %d, \"data_bytes_sent\": %llu, \"streaming\": %s, \"stream_groups\": %d, "
            "\"stream_bytes_read\": %llu, \"stream_load_s\": %.4f, \"stream_wait_s\": %.4f}",
            i ? ", " : "", r.rank, r.host.c_str(), r.layers.c_str(), r.compute_s, r.wait_s,
            r.micro_batches, static_cast<unsigned long long>(r.data_bytes_sent), r.stream.streaming ? "true" : "false",
            r.stream.n_groups, static_cast<unsigned long long>(r.stream.bytes_read), r.stream.load_s, r.stream.wait_s);
      }
      std::printf("]}\n");
      return 0;
    }
    std::printf("| ranks | wire | test | t/s |\n| ----: | ---- | ---: | --: |\n");
    std::printf("| %d | %s | %s | %.2f ± %.2f |\n", pipe.size(), p.wire.c_str(), pp_name.c_str(), mean_of(pp),
                sd_of(pp));
    if (!tg.empty())
      std::printf("| %d | %s | %s | %.2f ± %.2f |\n", pipe.size(), p.wire.c_str(), tg_name.c_str(), mean_of(tg),
                  sd_of(tg));
    std::printf("\nbytes on the wire per token: %.1f\n\n", per_token);
    std::printf("| stage | host | layers | compute s | waiting s | micro-batches | bytes sent |\n");
    std::printf("| ----: | ---- | -----: | --------: | --------: | ------------: | ---------: |\n");
    for (const auto& r : reports)
      std::printf("| %d | %s | %s | %.3f | %.3f | %d | %llu |\n", r.rank, r.host.c_str(), r.layers.c_str(),
                  r.compute_s, r.wait_s, r.micro_batches,
                  static_cast<unsigned long long>(r.data_bytes_sent));
    for (const auto& r : reports)
      if (r.stream.streaming)
        std::printf(
            "\nstage %d streams its layers: %d groups, read %.1f MiB in %.3f s, compute waited %.3f s for loads",
            r.rank, r.stream.n_groups, r.stream.bytes_read / 1048576.0, r.stream.load_s, r.stream.wait_s);
    std::printf("\n");
    return 0;
  });
}

#else

int bench_pipeline(const PipelineBenchArgs&, const PipelineCliOptions&) {
  throw Error(
      "--pipeline: this hearth was built without MPI (install libopenmpi-dev and configure with -DHEARTH_MPI=ON)");
}

#endif

}  // namespace hearth::cli

// hearth run --pipeline: one prompt through the stages of an MPI job; rank 0 prints the text.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "chat.h"
#include "pipeline_cli.h"

namespace hearth::cli {

#ifdef HEARTH_HAVE_MPI

pipeline::PipelineOptions pipeline_options(const ModelOptions& m, const PipelineCliOptions& p) {
  pipeline::PipelineOptions o;
  o.model_path = m.model;
  // A model store name is resolved on each rank; downloads (hf:, http) are not: every rank would fetch the file.
  std::error_code ec;
  if (!std::filesystem::exists(o.model_path, ec)) {
    if (o.model_path.find("://") != std::string::npos || o.model_path.rfind("hf:", 0) == 0)
      throw Error("--pipeline takes a local model file, split directory or store name, not " + o.model_path +
                  " (hearth pull it first)");
    o.model_path = resolve_model(o.model_path, m.models_dir);
  }
  o.load = load_params(m);
  o.session.n_ctx = m.n_ctx;
  o.ranges = p.ranges;
  o.laps = p.laps;
  if (!p.mem.empty()) {
    std::stringstream ss(p.mem);
    for (std::string part; std::getline(ss, part, ',');) o.mem.push_back(parse_size(part));
  }
  if (p.mem_budget_opt && p.mem_budget_opt->count() > 0) o.mem_budget = parse_size(p.mem_budget_opt->as<std::string>());
  o.wire = pipeline::parse_wire_type(p.wire);
  o.stage_timeout_s = p.stage_timeout;
  o.load_timeout_s = p.load_timeout;
  return o;
}

pipeline::PipelineOptions pipeline_options_on_rank(const ModelOptions& m, const PipelineCliOptions& p) {
  try {
    return pipeline_options(m, p);
  } catch (const Error&) {
    // Every rank sees the same bad options: rank 0 alone says so; the others end quietly.
    if (pipeline::launcher_world_rank() != 0) std::exit(1);
    throw;
  }
}

int with_pipeline(const PipelineCliOptions& p, const std::function<int(pipeline::MpiTransport&)>& body) {
  (void)p;
  pipeline::MpiTransport t;
  try {
    return body(t);
  } catch (const std::exception& e) {
    if (t.rank() == 0)
      std::fprintf(stderr, "error: %s\n", e.what());
    else
      std::fprintf(stderr, "error: rank %d: %s\n", t.rank(), e.what());
    if (t.size() > 1) t.abort(1);
    return 1;
  }
}

namespace {

std::string read_prompt_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw Error("cannot read prompt file " + path);
  std::ostringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

}  // namespace

int run_pipeline(RunOptions& o, const PipelineCliOptions& p) {
  settle_model_and_prompt(o);
  if (!o.prompt_file.empty()) o.prompt = read_prompt_file(o.prompt_file);
  if (o.conversation) throw Error("--pipeline: the chat is without -p (--conversation takes no prompt here)");
  const GenerateParams gp = generate_params(o);  // a bad schema is reported before the stages load
  pipeline::PipelineOptions po = pipeline_options_on_rank(o.model, p);
  po.session.n_batch = o.n_batch;
  po.session.n_seq = 1;
  return with_pipeline(p, [&](pipeline::MpiTransport& t) {
    const auto t0 = std::chrono::steady_clock::now();
    pipeline::Pipeline pipe(t, po);
    if (!pipe.is_driver()) {
      pipe.serve();
      return 0;
    }
    const double load_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    const Model& model = pipe.model();
    std::fprintf(stderr, "hearth: pipeline of %d ranks (%s, wire %s): %s; context %d\n", pipe.size(),
                 pipe.shape().arch.c_str(), p.wire.c_str(), pipe.plan_text().c_str(), pipe.shape().n_ctx);
    if (o.prompt.empty()) {
      // The chat: each turn continues sequence 0 after the positions the stages already hold.
      auto turn = [&](std::span<const int32_t> tokens, int n_past, const GenerateParams& gp,
                      const std::function<bool(const std::string&)>& on_text) {
        std::vector<pipeline::PipelineRequest> reqs(1);
        reqs[0].prompt.assign(tokens.begin(), tokens.end());
        reqs[0].n_past = n_past;
        reqs[0].params = gp;
        reqs[0].on_text = on_text;
        ChatTurn t;
        t.stats = pipe.generate(reqs)[0];
        t.n_cached = n_past + static_cast<int>(tokens.size());
        return t;
      };
      const int rc = chat_loop(model, pipe.shape().n_ctx, turn, gp, o.system);
      pipe.finish();
      return rc;
    }
    std::vector<int32_t> tokens;
    if (o.chat_prompt && o.system.empty())
      tokens = tokenize_chat(model, {{"user", o.prompt}});
    else if (!o.system.empty())
      tokens = tokenize_chat(model, {{"system", o.system}, {"user", o.prompt}});
    else
      tokens = model.tokenize(o.prompt, true, true);
    std::vector<pipeline::PipelineRequest> reqs(1);
    reqs[0].prompt = tokens;
    reqs[0].params = gp;
    reqs[0].on_text = [](const std::string& text) {
      std::fwrite(text.data(), 1, text.size(), stdout);
      std::fflush(stdout);
      return true;
    };
    std::vector<GenerateStats> st = pipe.generate(reqs);
    std::fputc('\n', stdout);
    std::fflush(stdout);
    std::vector<pipeline::StageReport> reports = pipe.finish();
    print_stats(st[0], load_ms);
    uint64_t wire = 0;
    for (const auto& r : reports) wire += r.data_bytes_sent;
    const int tokens_done = st[0].n_prompt + st[0].n_gen;
    std::fprintf(stderr, "hearth: pipeline %.0f bytes on the wire per token;",
                 tokens_done ? double(wire) / tokens_done : 0.0);
    for (const auto& r : reports) {
      std::fprintf(stderr, " stage %d compute %.1f ms", r.rank, r.compute_s * 1000);
      if (r.stream.streaming)
        std::fprintf(stderr, " (streaming %d layer groups, waited %.1f ms for loads)", r.stream.n_groups,
                     r.stream.wait_s * 1000);
      std::fputs(&r == &reports.back() ? "\n" : ",", stderr);
    }
    return 0;
  });
}

#else

int run_pipeline(RunOptions&, const PipelineCliOptions&) {
  throw Error(
      "--pipeline: this hearth was built without MPI (install libopenmpi-dev and configure with -DHEARTH_MPI=ON)");
}

#endif

}  // namespace hearth::cli

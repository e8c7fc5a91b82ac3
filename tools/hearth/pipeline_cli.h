// `--pipeline` for hearth run and hearth bench: the model's layers split across the ranks of an MPI job
// (`mpirun -np N hearth run -m MODEL --pipeline -p ...`). Built only with MPI (HEARTH_MPI); otherwise the flag
// gives a clear error.
#pragma once
#include <atomic>
#include <functional>
#include <memory>
#include <string>

#include "hearth/server.h"

#include "commands.h"
#include "run_options.h"

namespace hearth::cli {

struct PipelineCliOptions {
  bool enabled = false;
  std::string ranges;                     // "0-9,10-21": one inclusive range per rank (and lap)
  int laps = 1;                           // looped pipeline: layer ranges per rank
  std::string mem;                        // per-rank memory for automatic placement: "8G" or "8G,16G,..."
  std::string wire = "f32";               // f32, f16, q8_0
  double stage_timeout = 60;              // seconds
  double load_timeout = 600;              // seconds
  std::string mem_budget;                 // per-stage resident layer bytes (layer streaming)
  CLI::Option* mem_budget_opt = nullptr;  // --mem-budget, ours or the command's own when it already has one
};

// Registers --pipeline and its options on cmd.
std::shared_ptr<PipelineCliOptions> add_pipeline_options(CLI::App& cmd);

// hearth run --pipeline (every rank runs it; rank 0 prints).
int run_pipeline(RunOptions& o, const PipelineCliOptions& p);

struct PipelineBenchArgs {
  ModelOptions model;
  int n_prompt = 512;
  int n_gen = 128;
  int reps = 5;
  int parallel = 1;  // sequences in flight
  std::string output = "md";
};
// hearth bench --pipeline.
int bench_pipeline(const PipelineBenchArgs& a, const PipelineCliOptions& p);

// hearth serve --pipeline (every rank runs it; rank 0 serves HTTP, the others compute their layers).
int serve_pipeline(ServerOptions& o, const ModelOptions& m, const PipelineCliOptions& p);
// hearth serve's loop (serve.cpp): binds, says where it listens and serves until SIGINT/SIGTERM. With work, the
// HTTP server runs on a background thread while work runs on this one until the signal; when work throws, the
// server stops and the error goes on.
int serve_until_signal(Server& server, const ServerOptions& o,
                       const std::function<void(const std::atomic<bool>&)>& work = {});

#ifdef HEARTH_HAVE_MPI
}  // namespace hearth::cli
#include "pipeline/mpi/mpi_transport.h"
#include "pipeline/mpi/pipeline_run.h"
namespace hearth::cli {
// The library's options from the command line's.
pipeline::PipelineOptions pipeline_options(const ModelOptions& m, const PipelineCliOptions& p);
// As pipeline_options; on an error, ranks other than 0 exit quietly (status 1) and rank 0 throws.
pipeline::PipelineOptions pipeline_options_on_rank(const ModelOptions& m, const PipelineCliOptions& p);
// Runs body on this rank: rank 0 reports an error on stderr and ends the whole job (the other ranks may wait
// for it); other ranks stay quiet on stdout and say which rank they are on stderr.
int with_pipeline(const PipelineCliOptions& p, const std::function<int(pipeline::MpiTransport&)>& body);
#endif

}  // namespace hearth::cli

// --pipeline options of hearth run / bench.
#include "pipeline_cli.h"

namespace hearth::cli {

std::shared_ptr<PipelineCliOptions> add_pipeline_options(CLI::App& cmd) {
  auto p = std::make_shared<PipelineCliOptions>();
  cmd.add_flag("--pipeline", p->enabled,
               "split the model's layers across the ranks of an MPI job (mpirun -np N hearth ... --pipeline)");
  cmd.add_option("--ranges", p->ranges,
                 "pipeline: layers of each rank (and lap), inclusive, e.g. 0-9,10-21 (default: by memory)");
  cmd.add_option("--laps", p->laps,
                 "pipeline: layer ranges per rank, the hidden state going around the ranks once per lap (rank r "
                 "runs ranges r, r+N, ...; with --mem-budget one lap is resident and the next loads while the "
                 "others compute)")
      ->check(CLI::Range(1, 1024));
  cmd.add_option("--mem", p->mem,
                 "pipeline: memory of each rank for the automatic ranges, e.g. 8G,16G "
                 "(default: each rank's MemAvailable)");
  cmd.add_option("--wire", p->wire, "pipeline: hidden states on the wire as f32, f16 or q8_0")
      ->check(CLI::IsMember({"f32", "f16", "q8_0"}));
  cmd.add_option("--stage-timeout", p->stage_timeout, "pipeline: seconds a stage may take to answer")
      ->check(CLI::PositiveNumber);
  cmd.add_option("--load-timeout", p->load_timeout, "pipeline: seconds the stages may take to load")
      ->check(CLI::PositiveNumber);
  // Another part of the command may define --mem-budget (single-process layer streaming): then it is shared.
  p->mem_budget_opt = cmd.get_option_no_throw("--mem-budget");
  if (!p->mem_budget_opt)
    p->mem_budget_opt = cmd.add_option("--mem-budget", p->mem_budget,
                                       "pipeline: layer bytes each stage keeps resident; more are streamed (e.g. 2G)");
  return p;
}

}  // namespace hearth::cli

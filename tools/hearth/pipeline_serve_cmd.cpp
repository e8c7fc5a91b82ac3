// hearth serve --pipeline: rank 0 serves the OpenAI and Ollama APIs and runs the requests through the stages of
// the MPI job; the other ranks compute their layers until rank 0 stops.
#include <csignal>
#include <cstdio>
#include <filesystem>

#include "pipeline_cli.h"

namespace hearth::cli {

#ifdef HEARTH_HAVE_MPI
}  // namespace hearth::cli
#include "pipeline/mpi/pipeline_scheduler.h"
namespace hearth::cli {

int serve_pipeline(ServerOptions& o, const ModelOptions& m, const PipelineCliOptions& p) {
  if (m.model.empty()) throw Error("serve --pipeline needs a model (-m MODEL.gguf, a split directory or a store name)");
  pipeline::PipelineOptions po = pipeline_options_on_rank(m, p);
  po.session.n_batch = o.n_batch;
  po.session.n_seq = o.parallel;
  return with_pipeline(p, [&](pipeline::MpiTransport& t) {
    pipeline::Pipeline pipe(t, po);
    if (!pipe.is_driver()) {
      // mpirun signals every rank; rank 0 ends the stages in order when it stops.
      std::signal(SIGINT, SIG_IGN);
      std::signal(SIGTERM, SIG_IGN);
      pipe.serve();
      return 0;
    }
    auto sched = std::make_shared<pipeline::PipelineScheduler>(pipe);
    auto x = std::make_shared<ExternalModel>();
    x->name = !o.alias.empty() ? o.alias : std::filesystem::path(m.model).stem().string();
    x->path = po.model_path;
    // The input stage's tokenizer; the server only calls its const members (and never unloads it).
    x->model = std::shared_ptr<Model>(const_cast<Model*>(&pipe.model()), [](Model*) {});
    x->generator = sched;
    x->placement = "pipeline of " + std::to_string(pipe.size()) + " ranks: " + pipe.plan_text();
    o.external = x;
    o.n_ctx = pipe.shape().n_ctx;
    std::fprintf(stderr, "hearth serve: '%s' over a pipeline of %d ranks (wire %s): %s; context %d, %d sequences\n",
                 x->name.c_str(), pipe.size(), p.wire.c_str(), pipe.plan_text().c_str(), pipe.shape().n_ctx,
                 pipe.shape().n_seq);
    int rc;
    {
      Server server(o);
      rc = serve_until_signal(server, o, [&](const std::atomic<bool>& stop) { sched->run(stop); });
    }
    pipe.finish();
    return rc;
  });
}

#else

int serve_pipeline(ServerOptions&, const ModelOptions&, const PipelineCliOptions&) {
  throw Error(
      "--pipeline: this hearth was built without MPI (install libopenmpi-dev and configure with -DHEARTH_MPI=ON)");
}

#endif

}  // namespace hearth::cli

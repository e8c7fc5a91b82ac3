// The distributed loop: one Stage per MPI rank, hidden states flowing rank 0 -> 1 -> ... -> N-1, logit rows
// flowing back from the last rank to rank 0, which tokenizes, embeds (it is the input stage), samples and prints.
//
// Every rank constructs a Pipeline over an MpiTransport (collective setup: rank 0 gathers each rank's memory, decides
// the layer ranges, every rank opens its stage and reports back), then rank 0 calls generate() / clear() / finish()
// while the others call serve(), which returns when rank 0 finishes. Several sequences are in flight at once, each
// micro-batch travelling on its own, so that all stages compute at the same time.
#pragma once
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "hearth/generate.h"
#include "hearth/model.h"
#include "hearth/session.h"
#include "pipeline/stage.h"
#include "pipeline/wire.h"

namespace hearth::pipeline {

class MpiTransport;

struct PipelineOptions {
  std::string model_path;         // a GGUF file or a `hearth split` directory, as seen from each rank
  LoadParams load;                // per rank (threads, GPU layers)
  SessionParams session;          // n_ctx, n_seq; n_batch is the micro-batch size
  std::string ranges;             // "0-9,10-21": one inclusive layer range per rank and lap; empty: automatic
  int laps = 1;                   // looped pipeline: each rank runs this many layer ranges, the hidden state going
                                  // around the ranks once per lap (with --mem-budget: one lap resident at a time)
  std::vector<size_t> mem;        // automatic placement: each rank's memory in bytes; empty: its MemAvailable
  size_t mem_budget = 0;          // per-stage resident layer bytes (layer streaming); 0: all resident
  WireType wire = WireType::F32;  // hidden states on the wire
  double stage_timeout_s = 60;    // a stage that does not answer within this ends the run with an error
  double load_timeout_s = 600;    // opening the stages
};

// One stage's figures, reported to rank 0 at finish().
struct StageReport {
  int rank = 0;
  std::string host;
  int layer_begin = 0, layer_end = 0;
  std::string layers;  // "0-5", or a looped pipeline's laps: "0-5, 11-16"
  int micro_batches = 0;
  int tokens = 0;
  double compute_s = 0;     // inside Stage::forward
  double wait_s = 0;        // waiting for the previous stage
  uint64_t bytes_sent = 0;  // everything this rank sent (data + control)
  uint64_t data_bytes_sent = 0;
  StreamStats stream;
};

// One sequence to generate: its prompt tokens, parameters, and where its text goes (rank 0).
struct PipelineRequest {
  std::vector<int32_t> prompt;
  int n_past = 0;  // positions of the sequence already in the stages' KV caches: the prompt continues after them
  GenerateParams params;
  std::function<bool(const std::string&)> on_text;
  std::function<void(const TokenLogprob&)> on_logprob;  // with params.logprobs >= 0
  std::function<void(const GenerateStats&)> on_done;    // when it ends (rank 0's thread)
  int seq = -1;  // the sequence (KV slot) it runs on; -1: any free one (drive)
};

class Pipeline {
 public:
  // Collective over the transport's ranks. On an error, the caller ends the job with transport.abort() (the
  // other ranks may be waiting for this one), except in a world of one. After finish() / serve() another
  // Pipeline may follow on the same transport (ranks leave serve() once rank 0 has every report).
  Pipeline(MpiTransport& transport, const PipelineOptions& opt);
  ~Pipeline();
  Pipeline(const Pipeline&) = delete;
  Pipeline& operator=(const Pipeline&) = delete;

  int rank() const;
  int size() const;
  bool is_driver() const { return rank() == 0; }
  // Rank 0: the tokenizer (the input stage holds it).
  const Model& model() const;
  const StageShape& shape() const;
  // "rank 0 (host) layers 0-4 + embeddings, ..." as decided.
  const std::string& plan_text() const { return plan_text_; }

  // Rank 0: runs the requests as sequences 0..n-1 (n <= n_seq), all in flight together; returns each one's
  // statistics. A sequence continues after its request's n_past positions (a chat's next turn); from 0, call
  // clear() between calls that reuse it.
  std::vector<GenerateStats> generate(std::vector<PipelineRequest>& requests);
  // Rank 0, continuous batching: between micro-batches, calls admit(free, idle) with the number of free sequences;
  // it returns requests to start now (at most `free`; PipelineRequest::seq picks the sequence, -1 any free one).
  // idle: nothing is in flight (admit may then wait a little for work). A request's on_done runs when it ends;
  // sequences are free again right away (a new one starts at position n_past, the old rows are never read).
  // Returns when nothing is in flight and done() (asked only then) is true. Throws the pipeline's errors.
  using Admit = std::function<std::vector<PipelineRequest>(int free, bool idle)>;
  void drive(const Admit& admit, const std::function<bool()>& done);
  // Rank 0: forgets sequence seq on every stage.
  void clear(int seq);
  // Rank 0: ends serve() on every rank and returns every stage's report (rank order).
  std::vector<StageReport> finish();
  // Ranks > 0: runs micro-batches until rank 0 finishes. Errors are reported to rank 0 before throwing.
  void serve();

  // Bytes this rank has sent on the data path.
  uint64_t data_bytes_sent() const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
  std::string plan_text_;
};

}  // namespace hearth::pipeline

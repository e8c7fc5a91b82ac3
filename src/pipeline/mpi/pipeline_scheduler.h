// Requests from a server's threads run through a Pipeline (`hearth serve --pipeline`): rank 0 queues them and its
// main thread (the only one that calls MPI) drives the pipeline with continuous batching: a queued request starts
// on a free sequence between two micro-batches, and its sequence is free again when it ends. When the pipeline
// fails (a stage died or stopped answering), every running and queued request ends with "error: ..." and no
// more are taken.
#pragma once
#include <atomic>
#include <condition_variable>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>

#include "hearth/scheduler.h"
#include "pipeline/mpi/pipeline_run.h"

namespace hearth::pipeline {

class PipelineScheduler : public BatchGenerator {
 public:
  explicit PipelineScheduler(Pipeline& pipe);

  uint64_t submit(BatchRequest request) override;
  void cancel(uint64_t id) override;
  int n_ctx() const override;
  int slots() const override;
  Counts counts() const override;  // steps stay 0: the micro-batches are the pipeline's (StageReport)

  // On rank 0's main thread: drives the pipeline until stop is set (checked at least every 100 ms) and the
  // running requests have ended; what is still queued then ends as "cancelled". Throws the pipeline's error
  // after ending every request with it.
  void run(const std::atomic<bool>& stop);

 private:
  struct Queued {
    uint64_t id;
    BatchRequest req;
  };
  static void end(BatchRequest& req, const std::string& reason);
  // Under mu_: up to `free` queued requests as pipeline requests (waiting up to 100 ms for one when idle).
  std::vector<PipelineRequest> admit(int free, bool idle, const std::atomic<bool>& stop,
                                     std::unique_lock<std::mutex>& lock);

  Pipeline& pipe_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Queued> queue_;
  std::map<uint64_t, std::shared_ptr<BatchRequest>> running_;
  std::set<uint64_t> cancelled_;  // running requests to stop at their next piece of text
  std::string broken_;            // the pipeline's error, once it failed
  uint64_t next_id_ = 1;
  Counts counts_;
};

}  // namespace hearth::pipeline

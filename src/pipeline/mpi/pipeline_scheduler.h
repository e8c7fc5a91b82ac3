// Requests from a server's threads run through a Pipeline (`hearth serve --pipeline`): rank 0 queues them and its
// main thread (the only one that calls MPI) runs them in rounds of up to n_seq sequences, all in flight together.
// A request that arrives during a round waits for the round's end (no joining mid-round, unlike the one-process
// Scheduler). When the pipeline fails (a stage died or stopped answering), every request of the round and of the
// queue ends with "error: ..." and no more are taken.
#pragma once
#include <atomic>
#include <condition_variable>
#include <deque>
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
  Counts counts() const override;

  // On rank 0's main thread: runs rounds until stop is set (checked at least every 100 ms), then ends what is
  // still queued as "cancelled". Throws the pipeline's error after ending every request with it.
  void run(const std::atomic<bool>& stop);

 private:
  struct Queued {
    uint64_t id;
    BatchRequest req;
  };
  void end_all(std::deque<Queued>& reqs, const std::string& reason);

  Pipeline& pipe_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Queued> queue_;
  std::set<uint64_t> cancelled_;  // ids of the running round to stop
  std::string broken_;            // the pipeline's error, once it failed
  uint64_t next_id_ = 1;
  Counts counts_;
};

}  // namespace hearth::pipeline

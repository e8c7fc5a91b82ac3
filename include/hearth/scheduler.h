// Continuous batching: many generation requests share one loaded model and one session, each in its own
// sequence (KV slot); every step evaluates one forward pass holding the next token of every generating
// request plus prompt tokens of the requests still reading theirs. Requests join and leave between steps.
// A sequence keeps its K/V after its request ends; a new request goes to the free sequence sharing the longest
// prefix with its prompt (else the least recently used) and evaluates only the rest.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "hearth/generate.h"
#include "hearth/session.h"

namespace hearth {

struct BatchRequest {
  std::vector<int32_t> prompt;  // at least one token, shorter than the context
  GenerateParams params;
  // Called on the scheduler's thread with text as it becomes final; returning false cancels the request.
  std::function<bool(const std::string& text)> on_text;
  // Called once at the end (stop_reason "eog", "stop", "length", "context", "cancelled" or "error: ...").
  std::function<void(const GenerateStats& stats)> on_done;
  // With params.logprobs >= 0: each generated token's log-probabilities, before its text reaches on_text.
  std::function<void(const TokenLogprob& lp)> on_logprob;
};

// What a server submits generation requests to: the Scheduler below (one process), or a pipeline of MPI ranks
// (src/pipeline/mpi/pipeline_scheduler.h).
class BatchGenerator {
 public:
  virtual ~BatchGenerator() = default;
  // Queues a request and returns its id. Throws hearth::Error when the prompt is empty or does not fit the
  // context (never truncated silently), or when requests are no longer taken.
  virtual uint64_t submit(BatchRequest request) = 0;
  // Stops a queued or running request (its on_done reports "cancelled"); unknown ids are ignored.
  virtual void cancel(uint64_t id) = 0;
  virtual int n_ctx() const = 0;
  virtual int slots() const = 0;
  struct Counts {
    int queued = 0, running = 0;
    uint64_t steps = 0;            // forward passes so far
    uint64_t tokens_decoded = 0;   // tokens evaluated in them
  };
  virtual Counts counts() const = 0;
};

class Scheduler : public BatchGenerator {
 public:
  // session_params.n_seq is the number of requests generating at once (more wait in a queue);
  // n_batch bounds the tokens of one step.
  Scheduler(Model& model, const SessionParams& session_params);
  // Cancels what is queued or running (their on_done is called) and stops the thread.
  ~Scheduler() override;
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  uint64_t submit(BatchRequest request) override;
  void cancel(uint64_t id) override;
  int n_ctx() const override;
  int slots() const override;
  Counts counts() const override;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace hearth

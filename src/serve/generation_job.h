// One generation request in flight: submitted to a model's Scheduler, its text collected from the
// scheduler's thread and handed to the HTTP thread that streams or returns it.
#pragma once
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "hearth/generate.h"
#include "hearth/server.h"
#include "serve/model_registry.h"

namespace hearth::serve {

// Server-wide totals, updated by jobs.
struct Totals {
  std::atomic<uint64_t> requests{0}, finished{0}, cancelled{0}, tokens_generated{0};
  std::atomic<uint64_t> prompt_tokens{0}, prompt_tokens_cached{0};  // evaluated / reused from a sequence's cache
  std::atomic<uint64_t> prompt_us{0}, generation_us{0};             // time spent on each, summed over requests
  std::atomic<int> active{0};
};

class GenerationJob {
 public:
  // Submits the request; throws ApiError 400 when the prompt does not fit the context (with the numbers).
  static std::shared_ptr<GenerationJob> start(std::shared_ptr<LoadedModel> model, std::vector<int32_t> prompt,
                                              const GenerateParams& params, Totals& totals);

  enum class Poll { Text, Done, Idle };
  // Waits up to timeout for text; Text: out holds the new text; Done: the generation ended and every
  // piece was taken (stats() is final); Idle: nothing yet.
  Poll next(std::string& out, std::chrono::milliseconds timeout);
  // Waits for the end; returns the whole text.
  std::string wait_all();
  // The client went away: stop generating.
  void cancel();

  const GenerateStats& stats() const { return ch_->stats; }  // final once next() returned Done
  int n_prompt() const { return n_prompt_; }
  double total_ms() const;  // from start to the end (or now)
  const std::string& model_name() const { return model_->name; }
  // The per-token log-probabilities produced since the last call (params.logprobs >= 0), in order.
  std::vector<TokenLogprob> take_logprobs();
  // Prompt tokens dropped to fit the context (the request asked for truncation); 0: none.
  int truncated_tokens = 0;

 private:
  GenerationJob() = default;

  // What the scheduler's thread shares with the HTTP thread. The callbacks hold only this, never the
  // model: the last reference to a LoadedModel must not drop on its own scheduler's thread.
  struct Channel {
    std::mutex mu;
    std::condition_variable cv;
    std::string pending;  // text not yet taken
    std::vector<TokenLogprob> logprobs;  // not yet taken
    bool done = false;
    std::atomic<bool> cancelled{false};
    GenerateStats stats;
    std::chrono::steady_clock::time_point t_end;
    Totals* totals = nullptr;
    std::shared_ptr<ModelUse> use;  // the model's keep-alive starts again when the generation ends
  };

  std::shared_ptr<LoadedModel> model_;
  std::shared_ptr<Channel> ch_;
  uint64_t id_ = 0;
  int n_prompt_ = 0;
  std::chrono::steady_clock::time_point t0_;
};

}  // namespace hearth::serve

#include "pipeline/mpi/pipeline_scheduler.h"

#include <chrono>

#include "hearth/error.h"

namespace hearth::pipeline {

PipelineScheduler::PipelineScheduler(Pipeline& pipe) : pipe_(pipe) {}

int PipelineScheduler::n_ctx() const { return pipe_.shape().n_ctx; }
int PipelineScheduler::slots() const { return pipe_.shape().n_seq; }

BatchGenerator::Counts PipelineScheduler::counts() const {
  std::lock_guard<std::mutex> lock(mu_);
  return counts_;
}

uint64_t PipelineScheduler::submit(BatchRequest request) {
  if (request.prompt.empty()) throw Error("the prompt is empty");
  if (static_cast<int>(request.prompt.size()) >= n_ctx())
    throw Error("the prompt has " + std::to_string(request.prompt.size()) + " tokens, the context " +
                std::to_string(n_ctx()));
  uint64_t id;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!broken_.empty()) throw Error("the pipeline failed: " + broken_);
    id = next_id_++;
    queue_.push_back({id, std::move(request)});
    counts_.queued = static_cast<int>(queue_.size());
  }
  cv_.notify_all();
  return id;
}

void PipelineScheduler::cancel(uint64_t id) {
  std::deque<Queued> dropped;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto it = queue_.begin(); it != queue_.end(); ++it)
      if (it->id == id) {
        dropped.push_back(std::move(*it));
        queue_.erase(it);
        counts_.queued = static_cast<int>(queue_.size());
        break;
      }
    if (dropped.empty()) cancelled_.insert(id);  // running: its next piece of text ends it
  }
  end_all(dropped, "cancelled");
}

void PipelineScheduler::end_all(std::deque<Queued>& reqs, const std::string& reason) {
  for (Queued& q : reqs) {
    GenerateStats st;
    st.n_prompt = static_cast<int>(q.req.prompt.size());
    st.stop_reason = reason;
    if (q.req.on_done) q.req.on_done(st);
  }
  reqs.clear();
}

void PipelineScheduler::run(const std::atomic<bool>& stop) {
  const int n_seq = slots();
  while (true) {
    std::deque<Queued> round;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait_for(lock, std::chrono::milliseconds(100), [&] { return stop.load() || !queue_.empty(); });
      if (stop) {
        std::deque<Queued> rest;
        rest.swap(queue_);
        counts_.queued = 0;
        lock.unlock();
        end_all(rest, "cancelled");
        return;
      }
      while (!queue_.empty() && static_cast<int>(round.size()) < n_seq) {
        round.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
      counts_.queued = static_cast<int>(queue_.size());
      counts_.running = static_cast<int>(round.size());
    }
    if (round.empty()) continue;
    std::vector<PipelineRequest> reqs(round.size());
    for (size_t i = 0; i < round.size(); ++i) {
      BatchRequest& b = round[i].req;
      reqs[i].prompt = b.prompt;
      reqs[i].params = b.params;
      reqs[i].on_logprob = b.on_logprob;
      reqs[i].on_text = [this, &b, id = round[i].id](const std::string& text) {
        {
          std::lock_guard<std::mutex> lock(mu_);
          if (cancelled_.count(id)) return false;
        }
        return !b.on_text || b.on_text(text);
      };
    }
    std::vector<GenerateStats> stats;
    try {
      stats = pipe_.generate(reqs);
      for (size_t i = 0; i < round.size(); ++i) pipe_.clear(static_cast<int>(i));
    } catch (const std::exception& e) {
      std::deque<Queued> rest;
      {
        std::lock_guard<std::mutex> lock(mu_);
        broken_ = e.what();
        rest.swap(queue_);
        counts_ = {};
      }
      end_all(round, std::string("error: ") + e.what());
      end_all(rest, std::string("error: ") + e.what());
      throw;
    }
    uint64_t tokens = 0;
    for (size_t i = 0; i < round.size(); ++i) {
      GenerateStats& st = stats[i];
      tokens += static_cast<uint64_t>(st.n_prompt + st.n_gen);
      {
        std::lock_guard<std::mutex> lock(mu_);
        if (cancelled_.erase(round[i].id)) st.stop_reason = "cancelled";
      }
      if (round[i].req.on_done) round[i].req.on_done(st);
    }
    std::lock_guard<std::mutex> lock(mu_);
    counts_.running = 0;
    counts_.steps += 1;
    counts_.tokens_decoded += tokens;
  }
}

}  // namespace hearth::pipeline

#include "pipeline/mpi/pipeline_scheduler.h"

#include <chrono>
#include <optional>

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

void PipelineScheduler::end(BatchRequest& req, const std::string& reason) {
  GenerateStats st;
  st.n_prompt = static_cast<int>(req.prompt.size());
  st.stop_reason = reason;
  if (req.on_done) req.on_done(st);
}

void PipelineScheduler::cancel(uint64_t id) {
  std::optional<Queued> dropped;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto it = queue_.begin(); it != queue_.end(); ++it)
      if (it->id == id) {
        dropped = std::move(*it);
        queue_.erase(it);
        counts_.queued = static_cast<int>(queue_.size());
        break;
      }
    if (!dropped && running_.count(id)) cancelled_.insert(id);  // its next piece of text ends it
  }
  if (dropped) end(dropped->req, "cancelled");
}

std::vector<PipelineRequest> PipelineScheduler::admit(int free, bool idle, const std::atomic<bool>& stop,
                                                      std::unique_lock<std::mutex>& lock) {
  if (idle) cv_.wait_for(lock, std::chrono::milliseconds(100), [&] { return stop.load() || !queue_.empty(); });
  std::vector<PipelineRequest> out;
  if (stop) return out;
  while (!queue_.empty() && static_cast<int>(out.size()) < free) {
    const uint64_t id = queue_.front().id;
    auto req = std::make_shared<BatchRequest>(std::move(queue_.front().req));
    queue_.pop_front();
    running_[id] = req;
    PipelineRequest p;
    p.prompt = req->prompt;
    p.params = req->params;
    p.on_logprob = req->on_logprob;
    p.on_text = [this, req, id](const std::string& text) {
      {
        std::lock_guard<std::mutex> g(mu_);
        if (cancelled_.count(id)) return false;
      }
      return !req->on_text || req->on_text(text);
    };
    p.on_done = [this, req, id](const GenerateStats& st) {
      GenerateStats s = st;
      {
        std::lock_guard<std::mutex> g(mu_);
        if (cancelled_.erase(id)) s.stop_reason = "cancelled";
        running_.erase(id);
        counts_.running = static_cast<int>(running_.size());
        counts_.tokens_decoded += static_cast<uint64_t>(st.n_prompt + st.n_gen);
      }
      if (req->on_done) req->on_done(s);
    };
    out.push_back(std::move(p));
  }
  counts_.queued = static_cast<int>(queue_.size());
  counts_.running = static_cast<int>(running_.size());
  return out;
}

void PipelineScheduler::run(const std::atomic<bool>& stop) {
  try {
    pipe_.drive(
        [&](int free, bool idle) {
          std::unique_lock<std::mutex> lock(mu_);
          return admit(free, idle, stop, lock);
        },
        [&] { return stop.load(); });
  } catch (const std::exception& e) {
    std::deque<Queued> queued;
    std::map<uint64_t, std::shared_ptr<BatchRequest>> running;
    {
      std::lock_guard<std::mutex> lock(mu_);
      broken_ = e.what();
      queued.swap(queue_);
      running.swap(running_);
      counts_ = {};
    }
    const std::string reason = std::string("error: ") + e.what();
    for (auto& [id, req] : running) end(*req, reason);
    for (Queued& q : queued) end(q.req, reason);
    throw;
  }
  std::deque<Queued> rest;
  {
    std::lock_guard<std::mutex> lock(mu_);
    rest.swap(queue_);
    counts_.queued = 0;
  }
  for (Queued& q : rest) end(q.req, "cancelled");
}

}  // namespace hearth::pipeline

#include "serve/generation_job.h"

#include <algorithm>

#include "hearth/error.h"
#include "serve/api_error.h"

namespace hearth::serve {

std::shared_ptr<GenerationJob> GenerationJob::start(std::shared_ptr<LoadedModel> model, std::vector<int32_t> prompt,
                                                    const GenerateParams& params, Totals& totals) {
  const int n_ctx = model->scheduler->n_ctx();
  if (prompt.empty()) throw bad_request("the prompt is empty (it needs at least one token)", "empty_prompt");
  if (static_cast<int>(prompt.size()) >= n_ctx)
    throw bad_request("the prompt has " + std::to_string(prompt.size()) + " tokens, more than the context of " +
                          std::to_string(n_ctx) + " tokens leaves room for (at most " + std::to_string(n_ctx - 1) +
                          ")",
                      "context_length_exceeded");
  std::shared_ptr<GenerationJob> job(new GenerationJob());
  job->model_ = model;
  job->ch_ = std::make_shared<Channel>();
  job->ch_->totals = &totals;
  job->ch_->use = model->use;
  job->n_prompt_ = static_cast<int>(prompt.size());
  job->t0_ = std::chrono::steady_clock::now();

  BatchRequest req;
  req.prompt = std::move(prompt);
  req.params = params;
  req.on_text = [ch = job->ch_](const std::string& text) {
    if (ch->cancelled) return false;
    {
      std::lock_guard<std::mutex> lock(ch->mu);
      ch->pending += text;
    }
    ch->cv.notify_all();
    return true;
  };
  if (params.logprobs >= 0)
    req.on_logprob = [ch = job->ch_](const TokenLogprob& lp) {
      std::lock_guard<std::mutex> lock(ch->mu);
      ch->logprobs.push_back(lp);
    };
  req.on_done = [ch = job->ch_](const GenerateStats& st) {
    ch->use->end();
    Totals& t = *ch->totals;
    t.finished++;
    t.active--;
    t.tokens_generated += static_cast<uint64_t>(st.n_gen);
    t.prompt_tokens += static_cast<uint64_t>(std::max(0, st.n_prompt));
    t.prompt_tokens_cached += static_cast<uint64_t>(std::max(0, st.n_cached));
    t.prompt_us += static_cast<uint64_t>(std::max(0.0, st.prompt_ms) * 1000);
    t.generation_us += static_cast<uint64_t>(std::max(0.0, st.gen_ms) * 1000);
    if (st.stop_reason == "cancelled") t.cancelled++;
    {
      std::lock_guard<std::mutex> lock(ch->mu);
      ch->stats = st;
      ch->done = true;
      ch->t_end = std::chrono::steady_clock::now();
    }
    ch->cv.notify_all();
  };
  totals.requests++;
  totals.active++;
  model->use->begin();  // before submit: on_done may run before submit returns
  try {
    job->id_ = model->scheduler->submit(std::move(req));
  } catch (const Error& e) {
    model->use->end();
    totals.requests--;
    totals.active--;
    throw ApiError(503, e.what(), "server_error", "unavailable");  // the server is shutting down
  }
  return job;
}

GenerationJob::Poll GenerationJob::next(std::string& out, std::chrono::milliseconds timeout) {
  Channel& ch = *ch_;
  std::unique_lock<std::mutex> lock(ch.mu);
  ch.cv.wait_for(lock, timeout, [&] { return ch.done || !ch.pending.empty(); });
  if (!ch.pending.empty()) {
    out = std::move(ch.pending);
    ch.pending.clear();
    return Poll::Text;
  }
  return ch.done ? Poll::Done : Poll::Idle;
}

std::string GenerationJob::wait_all() {
  Channel& ch = *ch_;
  std::unique_lock<std::mutex> lock(ch.mu);
  ch.cv.wait(lock, [&] { return ch.done; });
  std::string out = std::move(ch.pending);
  ch.pending.clear();
  return out;
}

void GenerationJob::cancel() {
  if (ch_->cancelled.exchange(true)) return;
  model_->scheduler->cancel(id_);
}

std::vector<TokenLogprob> GenerationJob::take_logprobs() {
  std::lock_guard<std::mutex> lock(ch_->mu);
  std::vector<TokenLogprob> out;
  out.swap(ch_->logprobs);
  return out;
}

double GenerationJob::total_ms() const {
  std::lock_guard<std::mutex> lock(ch_->mu);
  auto end = ch_->done ? ch_->t_end : std::chrono::steady_clock::now();
  return std::chrono::duration<double, std::milli>(end - t0_).count();
}

}  // namespace hearth::serve

#include "hearth/scheduler.h"

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <set>
#include <thread>

#include "hearth/error.h"
#include "runtime/prefix_cache.h"
#include "runtime/token_stream.h"

namespace hearth {
namespace {

using Clock = std::chrono::steady_clock;

struct Queued {
  uint64_t id;
  BatchRequest req;
  Clock::time_point t0;
  std::string end_reason = "cancelled";  // why it ended without a sequence (admit() drops it)
};

// A request holding a sequence of the session.
struct Slot {
  uint64_t id;
  BatchRequest req;
  std::unique_ptr<TokenStream> ts;
  size_t prompt_done = 0;  // prompt tokens evaluated so far, or reused from the sequence's cache
  bool started = false;    // some of the prompt has been evaluated
  int32_t next = -1;       // the sampled token to evaluate next (generating), -1 while reading the prompt
  Clock::time_point t_prompt;
  double prompt_ms = 0;
};

// The owner's callback is the only way to tell it anything: when it throws, there is no one left to tell, and
// the exception must not end the scheduler's thread (and with it the process).
void report(BatchRequest& req, const GenerateStats& st) noexcept {
  try {
    if (req.on_done) req.on_done(st);
  } catch (...) {
  }
}

std::string error_reason(const std::exception& e) { return std::string("error: ") + e.what(); }

}  // namespace

struct Scheduler::Impl {
  Model& model;
  Session session;
  std::vector<std::unique_ptr<Slot>> slots;
  std::vector<float> logits;
  PrefixCache cache;  // what each sequence's K/V holds

  mutable std::mutex mu;
  std::condition_variable cv;
  std::deque<Queued> queue;
  std::set<uint64_t> to_cancel;
  bool stopping = false;
  uint64_t next_id = 1;
  Counts counts;
  std::thread thread;

  Impl(Model& m, const SessionParams& sp)
      : model(m), session(m, sp), slots(session.n_seq()), cache(session.n_seq()) {}

  void finish(int i) {
    Slot& s = *slots[i];
    GenerateStats st;
    try {
      st = s.ts->finish();  // hands the held-back text to the owner's on_text, which may throw
    } catch (const std::exception& e) {
      st = s.ts->stats();
      st.stop_reason = error_reason(e);
    }
    st.prompt_ms = s.prompt_ms;
    {
      // Before the request's owner hears of the end, so that counts() (/metrics) no longer shows the sequence
      // busy once the reply is out; admit() recounts on the next turn of the loop.
      std::lock_guard<std::mutex> lock(mu);
      --counts.running;
    }
    report(s.req, st);
    slots[i].reset();
  }

  // Under the lock: queued requests into free sequences, cancellations. Returns the requests to report as
  // cancelled before they started (reported outside the lock).
  std::vector<Queued> admit() {
    std::vector<Queued> dropped;
    for (auto it = queue.begin(); it != queue.end();) {
      if (stopping || to_cancel.erase(it->id)) {
        dropped.push_back(std::move(*it));
        it = queue.erase(it);
      } else {
        ++it;
      }
    }
    for (size_t i = 0; i < slots.size(); ++i)
      if (slots[i] && (stopping || to_cancel.erase(slots[i]->id))) slots[i]->ts->stop("cancelled");
    while (!queue.empty()) {
      const Queued& front = queue.front();
      const PrefixCache::Choice c =
          cache.choose(front.req.prompt, front.req.params.cache_prompt, [&](int i) { return !slots[i]; });
      if (c.seq < 0) break;
      Queued q = std::move(queue.front());
      queue.pop_front();
      auto s = std::make_unique<Slot>();
      s->id = q.id;
      s->req = std::move(q.req);
      try {  // the sampler refuses parameters it cannot work with (a NaN temperature): that request ends
        s->ts = std::make_unique<TokenStream>(model, s->req.params, s->req.prompt, s->req.on_text, q.t0);
      } catch (const std::exception& e) {
        q.req = std::move(s->req);
        q.end_reason = error_reason(e);
        dropped.push_back(std::move(q));
        continue;
      }
      if (s->req.on_logprob) s->ts->set_on_logprob(s->req.on_logprob);
      // (The session holds at least what the cache recorded; min() keeps that an invariant, not an assumption.)
      s->prompt_done = std::min(c.reuse, static_cast<size_t>(session.n_past(c.seq)));
      s->ts->reuse_prefix(s->prompt_done);
      session.truncate(c.seq, static_cast<int>(s->prompt_done));
      slots[c.seq] = std::move(s);
    }
    to_cancel.clear();  // ids that were neither queued nor running
    counts.queued = static_cast<int>(queue.size());
    counts.running = static_cast<int>(std::count_if(slots.begin(), slots.end(), [](auto& s) { return s != nullptr; }));
    return dropped;
  }

  // One forward pass: the next token of every generating sequence, then prompt tokens up to n_batch.
  void step(int n_batch) {
    std::vector<BatchToken> batch;
    std::vector<int> owners;  // sequence of each marked token, in batch order
    for (size_t i = 0; i < slots.size(); ++i)
      if (slots[i] && slots[i]->next >= 0) {
        batch.push_back({slots[i]->next, static_cast<int32_t>(i), true});
        owners.push_back(static_cast<int>(i));
      }
    for (size_t i = 0; i < slots.size() && static_cast<int>(batch.size()) < n_batch; ++i) {
      Slot* s = slots[i].get();
      if (!s || s->next >= 0 || s->ts->done()) continue;
      if (!s->started) s->t_prompt = Clock::now(), s->started = true;
      const size_t n = std::min(s->req.prompt.size() - s->prompt_done, static_cast<size_t>(n_batch) - batch.size());
      for (size_t k = 0; k < n; ++k) {
        const bool last = s->prompt_done + k + 1 == s->req.prompt.size();
        batch.push_back({s->req.prompt[s->prompt_done + k], static_cast<int32_t>(i), last});
        if (last) owners.push_back(static_cast<int>(i));
      }
      s->prompt_done += n;
    }
    if (batch.empty()) return;
    const int n_vocab = session.n_vocab();
    logits.resize(owners.size() * static_cast<size_t>(n_vocab));
    std::vector<int> pos(slots.size());  // where each sequence's tokens of this step go
    for (size_t i = 0; i < slots.size(); ++i) pos[i] = session.n_past(static_cast<int>(i));
    try {
      session.decode_batch(batch, logits.data());
    } catch (const std::exception& e) {
      // The whole step failed: every request in it ends with the reason, and its sequence's K/V is not trusted.
      std::set<int> in_batch;
      for (const BatchToken& b : batch) in_batch.insert(b.seq);
      for (int i : in_batch) {
        cache.forget(i);
        slots[i]->ts->stop(std::string("error: ") + e.what());
        finish(i);
      }
      return;
    }
    for (const BatchToken& b : batch) cache.record(b.seq, pos[b.seq]++, b.token);
    {
      std::lock_guard<std::mutex> lock(mu);
      ++counts.steps;
      counts.tokens_decoded += batch.size();
    }
    for (size_t m = 0; m < owners.size(); ++m) {
      const int i = owners[m];
      Slot& s = *slots[i];
      if (s.next < 0)
        s.prompt_ms = std::chrono::duration<double, std::milli>(Clock::now() - s.t_prompt).count();
      try {
        s.next = s.ts->next(logits.data() + m * n_vocab, session.n_past(i), session.n_ctx());
      } catch (const std::exception& e) {
        // This sequence alone ends (the sampler found no token it may pick, the owner's on_text threw); its
        // K/V is sound, the others go on.
        s.ts->stop(error_reason(e));
        s.next = -1;
      }
      if (s.next < 0) finish(i);
    }
  }

  // The thread's body: nothing may escape it (std::terminate). An exception that the steps above did not
  // attribute to one request (out of memory while admitting, say) ends every running request with it, and the
  // scheduler goes on serving the next ones.
  void loop(int n_batch) noexcept {
    for (;;) {
      try {
        if (turn(n_batch)) return;
      } catch (const std::exception& e) {
        fail_running(error_reason(e));
      } catch (...) {
        fail_running("error: unknown exception in the scheduler");
      }
    }
  }

  void fail_running(const std::string& reason) noexcept {
    for (size_t i = 0; i < slots.size(); ++i) {
      if (!slots[i]) continue;
      try {
        cache.forget(static_cast<int>(i));
        slots[i]->ts->stop(reason);
        finish(static_cast<int>(i));
      } catch (...) {
        slots[i].reset();  // its owner cannot be told; the sequence is free again
      }
    }
  }

  // One turn of the loop; true when the scheduler is stopping.
  bool turn(int n_batch) {
    std::vector<Queued> dropped;
    bool idle, stop;
    {
      std::unique_lock<std::mutex> lock(mu);
      dropped = admit();
      stop = stopping;
      idle = std::none_of(slots.begin(), slots.end(), [](auto& s) { return s != nullptr; });
      if (idle && dropped.empty() && !stop) {
        cv.wait(lock, [&] { return stopping || !queue.empty() || !to_cancel.empty(); });
        return false;
      }
    }
    for (Queued& q : dropped) {
      GenerateStats st;
      st.stop_reason = q.end_reason;
      report(q.req, st);
    }
    // Requests stopped by admit() (cancelled) end here, the others take a step.
    for (size_t i = 0; i < slots.size(); ++i)
      if (slots[i] && slots[i]->ts->done()) finish(static_cast<int>(i));
    if (stop) return true;
    step(n_batch);
    return false;
  }
};

Scheduler::Scheduler(Model& model, const SessionParams& session_params)
    : impl_(std::make_unique<Impl>(model, session_params)) {
  const int n_batch = session_params.n_batch;
  impl_->thread = std::thread([this, n_batch] { impl_->loop(n_batch); });
}

Scheduler::~Scheduler() {
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    impl_->stopping = true;
  }
  impl_->cv.notify_all();
  impl_->thread.join();
}

uint64_t Scheduler::submit(BatchRequest request) {
  if (request.prompt.empty()) throw Error("empty prompt: a request needs at least one token");
  if (static_cast<int>(request.prompt.size()) >= n_ctx())
    throw Error("prompt of " + std::to_string(request.prompt.size()) + " tokens does not fit the context of " +
                std::to_string(n_ctx()) + " tokens");
  uint64_t id;
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    if (impl_->stopping) throw Error("scheduler is shutting down");
    id = impl_->next_id++;
    impl_->queue.push_back({id, std::move(request), Clock::now()});
    impl_->counts.queued = static_cast<int>(impl_->queue.size());
  }
  impl_->cv.notify_all();
  return id;
}

void Scheduler::cancel(uint64_t id) {
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    impl_->to_cancel.insert(id);
  }
  impl_->cv.notify_all();
}

int Scheduler::n_ctx() const { return impl_->session.n_ctx(); }
int Scheduler::slots() const { return impl_->session.n_seq(); }

Scheduler::Counts Scheduler::counts() const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  return impl_->counts;
}

}  // namespace hearth

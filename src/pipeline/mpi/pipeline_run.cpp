#include "pipeline/mpi/pipeline_run.h"

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <deque>
#include <nlohmann/json.hpp>
#include <thread>
#include <utility>

#include "hearth/error.h"
#include "pipeline/logit_candidates.h"
#include "pipeline/mpi/mpi_transport.h"
#include "pipeline/rank_plan.h"
#include "runtime/prefix_cache.h"
#include "runtime/token_stream.h"

namespace hearth::pipeline {
namespace {

using Clock = std::chrono::steady_clock;
using json = nlohmann::json;

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

std::string fmt_s(double s) {
  char b[32];
  std::snprintf(b, sizeof b, "%g", s);
  return b;
}

Message control(const json& j) {
  Message m;
  m.kind = MsgKind::Control;
  m.text = j.dump();
  return m;
}

json parse_control(const Received& r) {
  json j = json::parse(r.msg.text, nullptr, false);
  if (j.is_discarded() || !j.is_object() || !j.contains("type"))
    throw Error("pipeline: malformed control message from rank " + std::to_string(r.source));
  return j;
}

json report_json(const StageReport& r) {
  return {{"rank", r.rank},
          {"host", r.host},
          {"layer_begin", r.layer_begin},
          {"layer_end", r.layer_end},
          {"layers", r.layers},
          {"micro_batches", r.micro_batches},
          {"tokens", r.tokens},
          {"compute_s", r.compute_s},
          {"wait_s", r.wait_s},
          {"bytes_sent", r.bytes_sent},
          {"data_bytes_sent", r.data_bytes_sent},
          {"stream",
           {{"streaming", r.stream.streaming},
            {"n_groups", r.stream.n_groups},
            {"bytes_read", r.stream.bytes_read},
            {"load_s", r.stream.load_s},
            {"wait_s", r.stream.wait_s}}}};
}

StageReport report_from_json(const json& j) {
  StageReport r;
  r.rank = j.value("rank", 0);
  r.host = j.value("host", "");
  r.layer_begin = j.value("layer_begin", 0);
  r.layer_end = j.value("layer_end", 0);
  r.layers = j.value("layers", "");
  r.micro_batches = j.value("micro_batches", 0);
  r.tokens = j.value("tokens", 0);
  r.compute_s = j.value("compute_s", 0.0);
  r.wait_s = j.value("wait_s", 0.0);
  r.bytes_sent = j.value("bytes_sent", uint64_t{0});
  r.data_bytes_sent = j.value("data_bytes_sent", uint64_t{0});
  if (j.contains("stream")) {
    const json& s = j["stream"];
    r.stream.streaming = s.value("streaming", false);
    r.stream.n_groups = s.value("n_groups", 0);
    r.stream.bytes_read = s.value("bytes_read", uint64_t{0});
    r.stream.load_s = s.value("load_s", 0.0);
    r.stream.wait_s = s.value("wait_s", 0.0);
  }
  return r;
}

// Test hook (never set in normal use): HEARTH_TEST_PIPELINE_FAIL="RANK:MODE:N" makes rank RANK, after handling
// N micro-batches, exit at once (MODE exit: a crashed node), stop answering (MODE hang: a stuck one), fail with
// an error (MODE error; N = 0: when opening its stage) or take 0.7 s more for each micro-batch (MODE slow).
struct FailHook {
  int rank = -1, after = 0;
  std::string mode;
  static FailHook from_env() {
    FailHook h;
    if (const char* v = std::getenv("HEARTH_TEST_PIPELINE_FAIL")) {
      char mode[16] = {0};
      if (std::sscanf(v, "%d:%15[a-z]:%d", &h.rank, mode, &h.after) != 3) return FailHook{};
      h.mode = mode;
    }
    return h;
  }
  void maybe_fail(int rank, int handled) const {
    if (rank != this->rank || handled < after) return;
    if (mode == "exit") std::_Exit(3);
    if (mode == "error") throw Error("test failure after " + std::to_string(handled) + " micro-batches");
    if (mode == "slow") std::this_thread::sleep_for(std::chrono::milliseconds(700));
    if (mode == "hang")
      for (;;) std::this_thread::sleep_for(std::chrono::seconds(1));
  }
};

// "3-5", or the laps of a looped pipeline's rank: "3-5, 12-14".
std::string layers_text(const StageSpec& s) {
  std::vector<std::pair<int, int>> laps = s.laps;
  if (laps.empty()) laps.push_back({s.layer_begin, s.layer_end});
  std::string out;
  for (const auto& [b, e] : laps) out += (out.empty() ? "" : ", ") + std::to_string(b) + "-" + std::to_string(e - 1);
  return out;
}

// A micro-batch rank 0 still has to compute and send.
struct Work {
  std::vector<int32_t> tokens, pos, seqs;
  std::vector<int> rows;  // rows whose logits are wanted
  std::vector<int32_t> picks;  // per wanted row, which of its logits rank 0 needs (logit_candidates.h)
  int n() const { return static_cast<int>(tokens.size()); }
};

}  // namespace

struct Pipeline::Impl {
  Impl(MpiTransport& transport, const PipelineOptions& options) : opt(options), t(transport) {}
  PipelineOptions opt;
  MpiTransport& t;
  std::unique_ptr<Stage> stage;
  std::vector<StageSpec> specs;    // rank 0: every rank's; others: only their own at [rank]
  std::vector<std::string> hosts;  // rank 0: every rank's host
  StageReport me;
  int next_mb = 0;
  bool finished = false;
  std::unique_ptr<PrefixCache> cache;  // rank 0: what the stages' K/V hold per sequence (kept between drives)
  Clock::time_point last_ping = Clock::now();  // ranks > 0: rank 0 was last heard of
  FailHook fail = FailHook::from_env();

  int last() const { return t.size() - 1; }

  std::string describe(int r) const {
    std::string s = "stage " + std::to_string(r) + " (rank " + std::to_string(r);
    if (r < static_cast<int>(hosts.size()) && !hosts[r].empty()) s += " on " + hosts[r];
    if (r < static_cast<int>(specs.size())) s += ", layers " + layers_text(specs[r]);
    return s + ")";
  }

  // Rank 0, between polls: a failing stage reports here, and stale pongs are dropped.
  void watch_errors() {
    while (auto r = t.poll(-1, kTagControl)) {
      if (r->msg.kind == MsgKind::Error) throw Error(r->msg.text);
    }
  }

  // Ranks > 0, between polls: answer rank 0's pings.
  void answer_pings() {
    while (auto r = t.poll(0, kTagControl)) {
      json j = parse_control(*r);
      if (j["type"] == "ping") {
        last_ping = Clock::now();
        t.send(0, kTagControl, control({{"type", "pong"}}));
      }
    }
  }

  // Rank 0, when a wait passed its deadline: pings every stage at once and names the first that does not answer
  // within the timeout. When all answer they are alive and working (long micro-batches queued): the wait goes on.
  void check_alive() {
    for (int r = 1; r < t.size(); ++r) t.send(r, kTagControl, control({{"type", "ping"}}));
    std::vector<bool> answered(t.size(), false);
    int missing = t.size() - 1;
    const auto deadline =
        Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(opt.stage_timeout_s));
    while (missing > 0) {
      const double left = std::chrono::duration<double>(deadline - Clock::now()).count();
      if (left <= 0) break;
      auto m = t.recv(-1, kTagControl, left);
      if (!m) break;
      if (m->msg.kind == MsgKind::Error) throw Error(m->msg.text);
      if (parse_control(*m)["type"] == "pong" && !answered[m->source]) {
        answered[m->source] = true;
        --missing;
      }
    }
    for (int r = 1; r < t.size(); ++r)
      if (!answered[r]) throw Error(describe(r) + " did not answer within " + fmt_s(opt.stage_timeout_s) + " s");
  }

  // Rank 0: the next data message from source, as long as every stage stays alive.
  Received recv_data(int source) {
    for (;;) {
      if (auto r = t.recv(source, kTagData, opt.stage_timeout_s, [this] { watch_errors(); })) return std::move(*r);
      check_alive();
    }
  }

  void forward(const int32_t* tokens, const float* hidden_in, const Message& shape_of, float* hidden_out,
               const std::vector<int>& rows, float* logits_out) {
    const auto t0 = Clock::now();
    stage->forward_lap(shape_of.lap, tokens, hidden_in, shape_of.pos.data(), shape_of.seqs.data(), shape_of.n(),
                       hidden_out, rows, logits_out);
    me.compute_s += seconds_since(t0);
    me.micro_batches += 1;
    me.tokens += shape_of.n();
  }

  void fill_report() {
    me.bytes_sent = t.bytes_sent();
    me.data_bytes_sent = t.data_bytes_sent();
    me.stream = stage->stream_stats();
  }

  // Ranks > 0: after a failure, tell rank 0 (which names it and ends the job) and give it time to do so.
  [[noreturn]] void report_failure(const std::string& what) {
    try {
      Message m;
      m.kind = MsgKind::Error;
      m.text = what;
      t.send(0, kTagControl, m);
      t.flush(opt.stage_timeout_s);
    } catch (const Error&) {
    }
    std::this_thread::sleep_for(std::chrono::duration<double>(std::min(opt.stage_timeout_s, 30.0)));
    throw Error(what);
  }

  void setup();
  void setup_driver();
  void setup_worker();
  void open_stage(const StageSpec& spec);
};

void Pipeline::Impl::open_stage(const StageSpec& spec) {
  StageSpec s = spec;
  s.mem_budget = opt.mem_budget;
  LoadParams load = opt.load;
  load.mem_budget = 0;  // the stage spec carries the budget
  stage = Stage::open(opt.model_path, s, load, opt.session);
  me.layer_begin = stage->shape().layer_begin;
  me.layer_end = stage->shape().layer_end;
  me.layers = layers_text(s);
}

void Pipeline::Impl::setup_driver() {
  const int n = t.size();
  hosts.assign(n, "");
  hosts[0] = t.host();
  std::vector<size_t> mems(n, 0);
  mems[0] = mem_available();
  for (int r = 1; r < n; ++r) {
    auto m = t.recv(r, kTagControl, opt.stage_timeout_s);
    if (!m)
      throw Error("rank " + std::to_string(r) + " did not join the pipeline within " + fmt_s(opt.stage_timeout_s) +
                  " s");
    json j = parse_control(*m);
    hosts[r] = j.value("host", "");
    mems[r] = j.value("mem", size_t{0});
  }
  const std::vector<size_t> layer_bytes = layer_bytes_of(opt.model_path);
  const int n_layer = static_cast<int>(layer_bytes.size());
  // A looped pipeline needs another rank to go around to.
  const int laps = n > 1 ? opt.laps : 1;
  if (laps < 1) throw Error("--laps must be at least 1");
  if (!opt.ranges.empty()) {
    specs = parse_stage_ranges(opt.ranges, n_layer);
    if (static_cast<int>(specs.size()) != n * laps)
      throw Error("--ranges gives " + std::to_string(specs.size()) + " layer ranges for " + std::to_string(n) +
                  " ranks" + (laps > 1 ? " x " + std::to_string(laps) + " laps" : "") + " (one range per rank" +
                  (laps > 1 ? " and lap)" : ")"));
  } else {
    if (!opt.mem.empty()) {
      if (opt.mem.size() != 1 && static_cast<int>(opt.mem.size()) != n)
        throw Error("--mem gives " + std::to_string(opt.mem.size()) + " sizes for " + std::to_string(n) +
                    " ranks (one size, or one per rank)");
      for (int r = 0; r < n; ++r) mems[r] = opt.mem.size() == 1 ? opt.mem[0] : opt.mem[r];
    }
    if (n * laps > n_layer)
      throw Error(std::to_string(n) + " ranks x " + std::to_string(laps) + " laps for " + std::to_string(n_layer) +
                  " layers: at most one lap per layer");
    std::vector<size_t> lap_mems;
    for (int k = 0; k < laps; ++k) lap_mems.insert(lap_mems.end(), mems.begin(), mems.end());
    specs = plan_by_memory(layer_bytes, lap_mems);
  }
  specs = loop_stages(specs, n);
  for (int r = 1; r < n; ++r)
    t.send(r, kTagControl,
           control({{"type", "plan"},
                    {"layer_begin", specs[r].layer_begin},
                    {"layer_end", specs[r].layer_end},
                    {"laps", specs[r].laps},
                    {"input", specs[r].input},
                    {"output", specs[r].output}}));
  open_stage(specs[0]);
  const int n_embd = stage->shape().n_embd;
  for (int r = 1; r < n; ++r) {
    auto m = t.recv(r, kTagControl, opt.load_timeout_s + opt.stage_timeout_s);
    if (!m) throw Error(describe(r) + " did not open its stage within " + fmt_s(opt.load_timeout_s) + " s");
    json j = parse_control(*m);
    if (!j.value("ok", false)) throw Error(describe(r) + ": " + j.value("error", std::string("failed to open")));
    if (j.value("n_embd", 0) != n_embd)
      throw Error(describe(r) + " has a hidden state of " + std::to_string(j.value("n_embd", 0)) + " values, stage 0 " +
                  std::to_string(n_embd) + " (different model files?)");
  }
}

void Pipeline::Impl::setup_worker() {
  t.send(0, kTagControl, control({{"type", "hello"}, {"host", t.host()}, {"mem", mem_available()}}));
  auto m = t.recv(0, kTagControl, opt.load_timeout_s + opt.stage_timeout_s);
  if (!m)
    throw Error("rank " + std::to_string(t.rank()) + ": no layer plan from rank 0 within " + fmt_s(opt.load_timeout_s) +
                " s");
  if (m->msg.kind == MsgKind::Error) throw Error(m->msg.text);
  json j = parse_control(*m);
  StageSpec spec;
  spec.layer_begin = j.value("layer_begin", 0);
  spec.layer_end = j.value("layer_end", 0);
  spec.input = j.value("input", false);
  spec.output = j.value("output", false);
  if (j.contains("laps") && j["laps"].is_array())
    for (const json& lap : j["laps"]) {
      if (!lap.is_array() || lap.size() != 2 || !lap[0].is_number_integer() || !lap[1].is_number_integer())
        throw Error("pipeline: malformed layer plan from rank 0");
      spec.laps.push_back({lap[0].get<int>(), lap[1].get<int>()});
    }
  specs.assign(t.rank() + 1, StageSpec{});
  specs[t.rank()] = spec;
  hosts.assign(t.rank() + 1, "");
  hosts[t.rank()] = t.host();
  try {
    if (fail.after == 0) fail.maybe_fail(t.rank(), 0);
    open_stage(spec);
  } catch (const std::exception& e) {
    t.send(0, kTagControl, control({{"type", "ready"}, {"ok", false}, {"error", e.what()}}));
    t.flush(opt.stage_timeout_s);
    // Rank 0 names this stage's error and ends the job; wait for it.
    std::this_thread::sleep_for(std::chrono::duration<double>(std::min(opt.stage_timeout_s, 30.0)));
    throw;
  }
  t.send(0, kTagControl, control({{"type", "ready"}, {"ok", true}, {"n_embd", stage->shape().n_embd}}));
}

void Pipeline::Impl::setup() {
  me.rank = t.rank();
  me.host = t.host();
  if (t.rank() == 0)
    setup_driver();
  else
    setup_worker();
}

Pipeline::Pipeline(MpiTransport& transport, const PipelineOptions& opt)
    : impl_(std::make_unique<Impl>(transport, opt)) {
  if (opt.stage_timeout_s <= 0) throw Error("--stage-timeout must be positive");
  impl_->setup();
  if (is_driver()) {
    for (int r = 0; r < size(); ++r) {
      const StageSpec& s = impl_->specs[r];
      plan_text_ += (r ? "; " : "") + std::string("rank ") + std::to_string(r) +
                    (impl_->hosts[r].empty() ? "" : " (" + impl_->hosts[r] + ")") + ": layers " + layers_text(s) +
                    (s.input ? " + embeddings" : "") + (s.output ? " + output" : "");
    }
  }
}

Pipeline::~Pipeline() = default;

int Pipeline::rank() const { return impl_->t.rank(); }
int Pipeline::size() const { return impl_->t.size(); }
const StageShape& Pipeline::shape() const { return impl_->stage->shape(); }
uint64_t Pipeline::data_bytes_sent() const { return impl_->t.data_bytes_sent(); }

const Model& Pipeline::model() const {
  const Model* m = impl_->stage->model();
  if (!m) throw Error("pipeline: this stage has no tokenizer");
  return *m;
}

std::vector<GenerateStats> Pipeline::generate(std::vector<PipelineRequest>& requests) {
  if (!is_driver()) throw Error("pipeline: generate() runs on rank 0");
  const int n_seq = impl_->stage->shape().n_seq;
  if (static_cast<int>(requests.size()) > n_seq)
    throw Error("pipeline: " + std::to_string(requests.size()) + " sequences, the stages hold " + std::to_string(n_seq));
  // Request i on sequence i, all admitted at once.
  std::vector<GenerateStats> out(requests.size());
  std::vector<PipelineRequest> batch = requests;
  size_t running = batch.size();
  for (size_t i = 0; i < batch.size(); ++i) {
    batch[i].seq = static_cast<int>(i);
    batch[i].on_done = [&out, &running, i, user = requests[i].on_done](const GenerateStats& st) {
      out[i] = st;
      --running;
      if (user) user(st);
    };
  }
  bool admitted = false;
  drive(
      [&](int, bool) {
        if (admitted) return std::vector<PipelineRequest>{};
        admitted = true;
        return std::move(batch);
      },
      [&] { return admitted && running == 0; });
  return out;
}

void Pipeline::drive(const Admit& admit, const std::function<bool()>& done) {
  Impl& I = *impl_;
  if (!is_driver()) throw Error("pipeline: drive() runs on rank 0");
  const StageShape& sh = I.stage->shape();
  struct Seq {
    bool active = false;
    PipelineRequest req;  // stays in place while active: the TokenStream refers to its params
    std::unique_ptr<TokenStream> ts;
    double prompt_ms = -1;
    Clock::time_point t0;
    size_t cached = 0;  // prompt tokens whose K/V the stages already held (not sent again)
  };
  std::vector<Seq> seqs(sh.n_seq);
  if (!I.cache) I.cache = std::make_unique<PrefixCache>(sh.n_seq);
  PrefixCache& cache = *I.cache;
  // The Stage hands out its tokenizer as const; TokenStream only calls const members of it.
  Model& model = const_cast<Model&>(this->model());
  std::deque<Work> work;
  int outstanding = 0;  // micro-batches in the pipe whose logits are due
  const int ub = std::max(1, sh.n_batch);

  auto end_seq = [&](int i) {
    Seq& s = seqs[i];
    GenerateStats st = s.ts->finish();
    st.prompt_ms = std::max(0.0, s.prompt_ms);
    auto on_done = std::move(s.req.on_done);
    s.ts.reset();
    s.req = PipelineRequest{};
    s.active = false;
    if (on_done) on_done(st);
  };

  // Starts requests on free sequences. The new sequences form one group per stage (round robin): a group's
  // tokens travel together as one micro-batch, and the groups follow each other down the pipe, so every stage
  // computes while the others do. Prompts are packed into micro-batches of at most n_batch tokens per group (a
  // micro-batch may hold the end of one prompt and the start of the next); the chunks of the groups are
  // interleaved.
  auto start = [&](std::vector<PipelineRequest> reqs) {
    std::vector<int> started;
    for (PipelineRequest& r : reqs) {
      int i = r.seq;
      size_t reuse = 0;
      if (i < 0) {
        // Any free sequence: the one whose K/V hold the longest prefix of the prompt (cache_prompt).
        const PrefixCache::Choice c = cache.choose(r.prompt, r.params.cache_prompt && r.n_past == 0, [&](int k) {
          return !seqs[k].active && std::find(started.begin(), started.end(), k) == started.end();
        });
        i = c.seq, reuse = c.reuse;
      }
      if (i < 0 || i >= sh.n_seq) throw Error("pipeline: no free sequence (the stages hold " + std::to_string(sh.n_seq) + ")");
      if (seqs[i].active) throw Error("pipeline: sequence " + std::to_string(i) + " is in use");
      const int n_past = r.n_past;
      if (r.prompt.empty()) throw Error("pipeline: empty prompt");
      if (n_past < 0) throw Error("pipeline: negative n_past");
      if (n_past + static_cast<int>(r.prompt.size()) >= sh.n_ctx)
        throw Error("prompt is " + std::to_string(n_past + r.prompt.size()) + " tokens, longer than the context size " +
                    std::to_string(sh.n_ctx) + " (use a larger -c)");
      Seq& s = seqs[i];
      s.active = true;
      s.req = std::move(r);
      s.t0 = Clock::now();
      s.prompt_ms = -1;
      s.cached = reuse;
      s.ts = std::make_unique<TokenStream>(model, s.req.params, s.req.prompt, s.req.on_text, s.t0);
      if (s.req.on_logprob) s.ts->set_on_logprob(s.req.on_logprob);
      s.ts->reuse_prefix(reuse);
      started.push_back(i);
    }
    const size_t n_groups = std::min(started.size(), static_cast<size_t>(size()));
    std::vector<std::vector<Work>> chunks(n_groups);
    for (size_t g = 0; g < n_groups; ++g) {
      Work w;
      for (size_t j = g; j < started.size(); j += n_groups) {
        const Seq& s = seqs[started[j]];
        if (s.ts->done()) continue;
        const auto& p = s.req.prompt;
        for (size_t k = s.cached; k < p.size(); ++k) {
          const int32_t pos = static_cast<int32_t>(s.req.n_past + k);
          cache.record(started[j], pos, p[k]);
          w.tokens.push_back(p[k]);
          w.pos.push_back(pos);
          w.seqs.push_back(static_cast<int32_t>(started[j]));
          if (k + 1 == p.size()) {
            w.rows.push_back(w.n() - 1);
            append_logits_request(s.ts->sampler(), s.req.params.logprobs >= 0 || s.req.params.json, w.picks);
          }
          if (w.n() == ub) chunks[g].push_back(std::exchange(w, Work{}));
        }
      }
      if (w.n() > 0) chunks[g].push_back(std::move(w));
    }
    for (size_t c = 0;; ++c) {
      bool any = false;
      for (auto& group : chunks)
        if (c < group.size()) work.push_back(std::move(group[c])), any = true;
      if (!any) break;
    }
    for (int i : started)
      if (seqs[i].ts->done()) end_seq(i);  // nothing to generate (n_predict 0)
  };

  // Logit rows of one micro-batch: each sequence samples; those that go on travel on together.
  auto on_logits = [&](int n_rows, const int32_t* row_seq, const int32_t* row_pos, const float* logits) {
    Work next;
    for (int k = 0; k < n_rows; ++k) {
      if (row_seq[k] < 0 || row_seq[k] >= sh.n_seq || !seqs[row_seq[k]].active)
        throw Error("pipeline: logits for unknown sequence " + std::to_string(row_seq[k]));
      Seq& s = seqs[row_seq[k]];
      if (s.prompt_ms < 0) s.prompt_ms = std::chrono::duration<double, std::milli>(Clock::now() - s.t0).count();
      const int n_past = row_pos[k] + 1;
      const int32_t tok = s.ts->next(logits + static_cast<size_t>(k) * sh.n_vocab, n_past, sh.n_ctx);
      if (tok < 0) {
        end_seq(row_seq[k]);
        continue;
      }
      next.rows.push_back(next.n());
      append_logits_request(s.ts->sampler(), s.req.params.logprobs >= 0 || s.req.params.json, next.picks);
      next.tokens.push_back(tok);
      next.pos.push_back(n_past);
      next.seqs.push_back(row_seq[k]);
      cache.record(row_seq[k], n_past, tok);
    }
    if (next.n() > 0) work.push_back(std::move(next));
  };
  std::vector<float> lap_out, expanded;
  auto handle = [&](Received& r) {
    Message& m = r.msg;
    if (m.kind == MsgKind::Error) throw Error(m.text);
    if (m.kind == MsgKind::Hidden && m.lap > 0) {
      // A looped pipeline: the micro-batch came around for this rank's next lap; on to rank 1 again.
      const int n = m.n();
      if (n < 1 || n > sh.n_batch || m.n_cols != sh.n_embd || m.data.size() != static_cast<size_t>(n) * sh.n_embd)
        throw Error("pipeline: malformed lap " + std::to_string(m.lap) + " micro-batch from " + I.describe(r.source));
      lap_out.resize(static_cast<size_t>(n) * sh.n_embd);
      I.forward(nullptr, m.data.data(), m, lap_out.data(), {}, nullptr);
      m.wire = I.opt.wire;
      m.data = lap_out;
      I.t.send(1, kTagData, m);
      return;
    }
    if (m.kind == MsgKind::Logits && !m.ints.empty() && m.n() == static_cast<int>(m.rows.size())) {
      // Candidates: rebuild whole rows, -inf where the sampler cannot draw.
      expand_candidates(m.ints, m.data, m.n(), sh.n_vocab, expanded);
      outstanding -= 1;
      on_logits(m.n(), m.seqs.data(), m.pos.data(), expanded.data());
      return;
    }
    if (m.kind != MsgKind::Logits || m.n_cols != sh.n_vocab || m.n() != static_cast<int>(m.rows.size()) ||
        m.data.size() != static_cast<size_t>(m.n()) * sh.n_vocab)
      throw Error("pipeline: unexpected " + std::string(msg_kind_name(m.kind)) + " message from " +
                  I.describe(r.source));
    outstanding -= 1;
    on_logits(m.n(), m.seqs.data(), m.pos.data(), m.data.data());
  };

  std::vector<float> hidden, logits;
  for (;;) {
    const bool idle = work.empty() && outstanding == 0;
    int free = 0;
    for (const Seq& s : seqs) free += s.active ? 0 : 1;
    if (free > 0) {
      std::vector<PipelineRequest> reqs = admit(free, idle);
      if (!reqs.empty()) {
        if (static_cast<int>(reqs.size()) > free)
          throw Error("pipeline: " + std::to_string(reqs.size()) + " requests admitted for " + std::to_string(free) +
                      " free sequences");
        start(std::move(reqs));
        continue;
      }
    }
    if (idle) {
      if (done()) break;
      continue;
    }
    if (size() > 1) {
      I.watch_errors();
      if (auto r = I.t.poll(I.last(), kTagData)) {
        handle(*r);
        continue;
      }
    }
    if (!work.empty()) {
      Work w = std::move(work.front());
      work.pop_front();
      Message m;
      m.kind = MsgKind::Hidden;
      m.wire = I.opt.wire;
      m.micro_batch = I.next_mb++;
      m.pos = w.pos;
      m.seqs = w.seqs;
      m.rows = w.rows;
      m.ints = w.picks;
      const int n = m.n();
      if (size() == 1) {
        logits.resize(static_cast<size_t>(w.rows.size()) * sh.n_vocab);
        I.forward(w.tokens.data(), nullptr, m, nullptr, w.rows, logits.data());
        std::vector<int32_t> row_seq, row_pos;
        for (int row : w.rows) row_seq.push_back(w.seqs[row]), row_pos.push_back(w.pos[row]);
        on_logits(static_cast<int>(w.rows.size()), row_seq.data(), row_pos.data(), logits.data());
        continue;
      }
      hidden.resize(static_cast<size_t>(n) * sh.n_embd);
      I.forward(w.tokens.data(), nullptr, m, hidden.data(), {}, nullptr);
      m.n_cols = sh.n_embd;
      m.data = hidden;
      I.t.send(1, kTagData, m);
      if (!w.rows.empty()) outstanding += 1;
      continue;
    }
    Received r = I.recv_data(I.last());
    handle(r);
  }
}

void Pipeline::clear(int seq) {
  Impl& I = *impl_;
  if (!is_driver()) throw Error("pipeline: clear() runs on rank 0");
  I.stage->clear_seq(seq);
  if (I.cache) I.cache->forget(seq);
  if (size() == 1) return;
  Message m;
  m.kind = MsgKind::Clear;
  m.pos = {0};
  m.seqs = {seq};
  I.t.send(1, kTagData, m);
}

std::vector<StageReport> Pipeline::finish() {
  Impl& I = *impl_;
  if (!is_driver()) throw Error("pipeline: finish() runs on rank 0");
  std::vector<StageReport> out;
  I.fill_report();
  out.push_back(I.me);
  if (size() > 1 && !I.finished) {
    Message m;
    m.kind = MsgKind::Stop;
    m.text = "[]";
    I.t.send(1, kTagData, m);
    Received r = I.recv_data(I.last());
    if (r.msg.kind != MsgKind::Stop)
      throw Error("pipeline: expected the end of the run from " + I.describe(I.last()) + ", got " +
                  msg_kind_name(r.msg.kind));
    json reports = json::parse(r.msg.text, nullptr, false);
    if (!reports.is_array()) throw Error("pipeline: malformed stage reports");
    for (const json& j : reports) out.push_back(report_from_json(j));
    // Every rank has reported: let them go (they wait, so that nothing of a next pipeline on this transport
    // reaches this one).
    for (int r = 1; r < size(); ++r) I.t.send(r, kTagControl, control({{"type", "finished"}}));
    if (!I.t.flush(I.opt.stage_timeout_s)) throw Error("pipeline: " + I.describe(1) + " did not take the stop message");
  }
  I.finished = true;
  return out;
}

void Pipeline::serve() {
  Impl& I = *impl_;
  if (is_driver()) throw Error("pipeline: serve() runs on ranks > 0");
  const int up = rank() - 1;
  const bool output = I.stage->shape().output;
  const int down = output ? 0 : rank() + 1;
  const StageShape& sh = I.stage->shape();
  // Rank 0 waits stage_timeout for an answer and then pings every stage; a stage waits longer than that for
  // its input, so that rank 0 (which names the culprit) is the one to report a stall.
  const double idle_s = 2 * I.opt.stage_timeout_s + 10.0 * size() + 30;
  std::vector<float> out;
  try {
    for (;;) {
      const auto tw = Clock::now();
      std::optional<Received> r;
      // Rank 0 pings while it waits on a slow stage: a ping is news from it, and the wait goes on.
      while (!(r = I.t.recv(up, kTagData, idle_s, [&I] { I.answer_pings(); })))
        if (seconds_since(I.last_ping) >= idle_s) break;
      I.me.wait_s += seconds_since(tw);
      if (!r) throw Error("no message from rank " + std::to_string(up) + " within " + fmt_s(idle_s) + " s");
      Message& m = r->msg;
      switch (m.kind) {
        case MsgKind::Hidden: {
          const int n = m.n();
          if (n < 1 || n > sh.n_batch || m.n_cols != sh.n_embd || m.data.size() != static_cast<size_t>(n) * sh.n_embd)
            throw Error("micro-batch " + std::to_string(m.micro_batch) + " of " + std::to_string(n) + " rows of " +
                        std::to_string(m.n_cols) + " values does not fit this stage (n_embd " +
                        std::to_string(sh.n_embd) + ", batch " + std::to_string(sh.n_batch) + ")");
          for (int row : m.rows)
            if (row < 0 || row >= n) throw Error("micro-batch asks for the logits of row " + std::to_string(row));
          for (int k = 0; k < n; ++k)
            if (m.pos[k] < 0 || m.pos[k] >= sh.n_ctx || m.seqs[k] < 0 || m.seqs[k] >= sh.n_seq)
              throw Error("micro-batch token at position " + std::to_string(m.pos[k]) + " of sequence " +
                          std::to_string(m.seqs[k]) + " is outside the context (" + std::to_string(sh.n_ctx) +
                          " positions, " + std::to_string(sh.n_seq) + " sequences)");
          Message o;
          o.micro_batch = m.micro_batch;
          const int n_laps = static_cast<int>(sh.laps.size());
          if (m.lap < 0 || m.lap >= n_laps)
            throw Error("micro-batch " + std::to_string(m.micro_batch) + " on lap " + std::to_string(m.lap) +
                        " (this stage runs " + std::to_string(n_laps) + ")");
          // The last lap of the output stage gives logits; every other pass hands the hidden state on (a looped
          // pipeline's last rank: back to rank 0 for its next lap).
          if (output && m.lap + 1 == n_laps) {
            out.resize(m.rows.size() * static_cast<size_t>(sh.n_vocab));
            I.forward(nullptr, m.data.data(), m, nullptr, m.rows, out.data());
            if (!m.rows.empty()) {
              o.kind = MsgKind::Logits;
              o.wire = WireType::F32;
              o.rows = m.rows;
              for (int row : m.rows) o.pos.push_back(m.pos[row]), o.seqs.push_back(m.seqs[row]);
              if (m.ints.empty()) {
                o.n_cols = sh.n_vocab;
                o.data = out;
              } else {
                // Only what rank 0's samplers can draw from (logit_candidates.h), as F32 values.
                select_candidates(out.data(), static_cast<int>(m.rows.size()), sh.n_vocab, m.ints, o.ints, o.data);
                o.n_cols = 1;
              }
              I.t.send(0, kTagData, o);
            }
          } else {
            out.resize(static_cast<size_t>(n) * sh.n_embd);
            I.forward(nullptr, m.data.data(), m, out.data(), {}, nullptr);
            o.kind = MsgKind::Hidden;
            o.wire = I.opt.wire;
            o.lap = output ? m.lap + 1 : m.lap;
            o.pos = std::move(m.pos);
            o.seqs = std::move(m.seqs);
            o.rows = std::move(m.rows);
            o.ints = std::move(m.ints);
            o.n_cols = sh.n_embd;
            o.data = out;
            I.t.send(down, kTagData, o);
          }
          I.fail.maybe_fail(rank(), I.me.micro_batches);
          break;
        }
        case MsgKind::Clear:
          if (m.seqs.size() != 1 || m.seqs[0] < 0 || m.seqs[0] >= sh.n_seq) throw Error("clear of a bad sequence");
          I.stage->clear_seq(m.seqs[0]);
          if (!output) I.t.send(down, kTagData, m);
          break;
        case MsgKind::Stop: {
          json reports = json::parse(m.text, nullptr, false);
          if (!reports.is_array()) reports = json::array();
          I.fill_report();
          reports.push_back(report_json(I.me));
          m.text = reports.dump();
          I.t.send(down, kTagData, m);
          if (!I.t.flush(I.opt.stage_timeout_s, [&I] { I.answer_pings(); }))
            throw Error("rank " + std::to_string(down) + " did not take the end of the run");
          // Wait for rank 0 to have every report (answering its pings meanwhile).
          const auto until = Clock::now() + std::chrono::duration<double>(I.opt.stage_timeout_s);
          while (Clock::now() < until) {
            auto c = I.t.recv(0, kTagControl, I.opt.stage_timeout_s);
            if (!c) break;
            const json j = parse_control(*c);
            if (j["type"] == "finished") break;
            if (j["type"] == "ping") I.t.send(0, kTagControl, control({{"type", "pong"}}));
          }
          I.t.flush(I.opt.stage_timeout_s);
          return;
        }
        default:
          throw Error(std::string("unexpected ") + msg_kind_name(m.kind) + " message from rank " + std::to_string(up));
      }
    }
  } catch (const Error& e) {
    std::string what = e.what();
    if (what.rfind("stage ", 0) != 0) what = I.describe(rank()) + ": " + what;
    I.report_failure(what);
  }
}

}  // namespace hearth::pipeline

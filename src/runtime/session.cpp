#include "hearth/session.h"

#include <algorithm>
#include <mutex>
#include <set>

#include "hearth/error.h"
#include "model/activations.h"
#include "model/model_impl.h"
#include "runtime/kv_cache.h"

namespace hearth {

struct Session::Impl {
  ModelImpl& model;
  SessionParams params;
  int n_ctx = 0;
  std::unique_ptr<KvCache> kv;
  std::vector<Activations> acts;              // per backend of the plan
  std::vector<std::pair<Backend*, void*>> owned;
  std::vector<int> n_past;
  std::vector<float> logits;                  // host, last decode()

  Impl(ModelImpl& m, const SessionParams& p) : model(m), params(p) {
    const HParams& h = m.hparams();
    n_ctx = p.n_ctx > 0 ? p.n_ctx : std::min(h.n_ctx_train, 4096);
    if (params.n_batch <= 0) params.n_batch = 512;
    if (params.n_seq <= 0) params.n_seq = 1;
    n_past.assign(params.n_seq, 0);
    const PlacementPlan& plan = m.plan();
    kv = std::make_unique<KvCache>(h, plan, n_ctx, params.n_seq, p.kv_f32 ? DType::F32 : DType::F16);
    std::set<int> used(plan.layer_backend.begin(), plan.layer_backend.end());
    used.insert(0);
    used.insert(plan.output_backend);
    alloc_activations(h, plan, used, params.n_batch, true, acts, owned);
  }
  ~Impl() {
    kv.reset();
    for (auto& [be, p] : owned) be->release(p);
  }

  void check_seq(int seq) const {
    if (seq < 0 || seq >= params.n_seq)
      throw Error("sequence " + std::to_string(seq) + " out of range (session has " + std::to_string(params.n_seq) + ")");
  }

  // Runs tokens [0, n) of one batch; logits of rows `rows` go to out, the output-normed hidden state of
  // every row to embd_out when given.
  void run(const int32_t* tokens, const int32_t* pos, const int32_t* seq, int n, std::vector<int> rows, float* out,
           float* embd_out = nullptr) {
    const int nv = model.hparams().n_vocab;
    for (int i = 0; i < n; ++i)
      if (tokens[i] < 0 || tokens[i] >= nv)
        throw Error("token id " + std::to_string(tokens[i]) + " is outside the vocabulary (" + std::to_string(nv) + ")");
    ForwardPass pass;
    pass.tokens = tokens;
    pass.pos = pos;
    pass.seq = seq;
    pass.n_tokens = n;
    pass.logit_rows = std::move(rows);
    pass.logits_out = out;
    pass.acts = &acts;
    pass.kv = &kv->layers();
    pass.observer = model.layer_observer();  // layer streaming under --mem-budget
    pass.embd_out = embd_out;
    std::lock_guard<std::mutex> lock(model.forward_mutex());
    model.arch().forward(pass);
  }

  // Appends tokens to one sequence; want_all: logits after every token into out, else the last one.
  void append(std::span<const int32_t> tokens, int s, bool want_all, float* out) {
    check_seq(s);
    if (tokens.empty()) throw Error("nothing to decode: empty token list");
    if (n_past[s] + static_cast<int64_t>(tokens.size()) > n_ctx)
      throw Error("context overflow: " + std::to_string(n_past[s]) + " tokens in context + " +
                  std::to_string(tokens.size()) + " new exceed the context size " + std::to_string(n_ctx) +
                  " (use a larger -c)");
    const int nv = model.hparams().n_vocab;
    std::vector<int32_t> pos, seq;
    for (size_t start = 0; start < tokens.size(); start += params.n_batch) {
      int n = static_cast<int>(std::min<size_t>(params.n_batch, tokens.size() - start));
      pos.resize(n);
      seq.assign(n, s);
      for (int i = 0; i < n; ++i) pos[i] = n_past[s] + i;
      std::vector<int> rows;
      if (want_all) {
        for (int i = 0; i < n; ++i) rows.push_back(i);
        run(tokens.data() + start, pos.data(), seq.data(), n, rows, out + start * nv);
      } else {
        if (start + n == tokens.size()) rows.push_back(n - 1);
        run(tokens.data() + start, pos.data(), seq.data(), n, rows, out);
      }
      n_past[s] += n;
    }
  }

  void run_batch(std::span<const BatchToken> batch, float* out, float* embd_out);
};

Session::Session(Model& model, const SessionParams& params) {
  auto* m = dynamic_cast<ModelImpl*>(&model);
  if (!m) throw Error("Session needs a model from Model::load");
  std::lock_guard<std::mutex> lock(m->forward_mutex());
  impl_ = std::make_unique<Impl>(*m, params);
}

Session::~Session() {
  std::lock_guard<std::mutex> lock(impl_->model.forward_mutex());
  impl_.reset();
}

const float* Session::decode(std::span<const int32_t> tokens, int seq) {
  impl_->logits.resize(impl_->model.hparams().n_vocab);
  impl_->append(tokens, seq, false, impl_->logits.data());
  return impl_->logits.data();
}

void Session::decode_all(std::span<const int32_t> tokens, float* all_logits, int seq) {
  impl_->append(tokens, seq, true, all_logits);
}

void Session::decode_batch(std::span<const BatchToken> batch, float* out) { impl_->run_batch(batch, out, nullptr); }

void Session::decode_hidden(std::span<const BatchToken> batch, float* out) {
  for (const BatchToken& t : batch)
    if (t.logits) throw Error("decode_hidden computes no logits: no token of its batch may ask for them");
  impl_->run_batch(batch, nullptr, out);
}

// One mixed batch: each token appended to its sequence in order.
void Session::Impl::run_batch(std::span<const BatchToken> batch, float* out, float* embd_out) {
  Impl& s = *this;
  if (batch.empty()) throw Error("nothing to decode: empty batch");
  if (static_cast<int>(batch.size()) > s.params.n_batch)
    throw Error("batch of " + std::to_string(batch.size()) + " tokens exceeds n_batch " + std::to_string(s.params.n_batch));
  std::vector<int32_t> tokens, pos, seq;
  std::vector<int> rows;
  std::vector<int> next = s.n_past;
  for (size_t i = 0; i < batch.size(); ++i) {
    s.check_seq(batch[i].seq);
    if (next[batch[i].seq] >= s.n_ctx)
      throw Error("context overflow in sequence " + std::to_string(batch[i].seq) + " (context size " +
                  std::to_string(s.n_ctx) + ")");
    tokens.push_back(batch[i].token);
    seq.push_back(batch[i].seq);
    pos.push_back(next[batch[i].seq]++);
    if (batch[i].logits) rows.push_back(static_cast<int>(i));
  }
  s.run(tokens.data(), pos.data(), seq.data(), static_cast<int>(batch.size()), rows, out, embd_out);
  s.n_past = next;
}

int Session::n_past(int seq) const {
  impl_->check_seq(seq);
  return impl_->n_past[seq];
}
int Session::n_ctx() const { return impl_->n_ctx; }
int Session::n_seq() const { return impl_->params.n_seq; }
int Session::n_vocab() const { return impl_->model.hparams().n_vocab; }
int Session::n_embd() const { return impl_->model.hparams().n_embd; }
Model& Session::model() { return impl_->model; }

void Session::copy_sequence(int src, int dst, int n) {
  impl_->check_seq(src);
  impl_->check_seq(dst);
  if (n < 0 || n > impl_->n_past[src])
    throw Error("copy_sequence: sequence " + std::to_string(src) + " has " + std::to_string(impl_->n_past[src]) +
                " positions, not " + std::to_string(n));
  if (src == dst || n == 0) {
    impl_->n_past[dst] = n;
    return;
  }
  std::lock_guard<std::mutex> lock(impl_->model.forward_mutex());
  const PlacementPlan& plan = impl_->model.plan();
  auto& layers = impl_->kv->layers();
  for (size_t l = 0; l < layers.size(); ++l) {
    const KvLayer& kv = layers[l];
    if (!kv.k) continue;  // another pipeline stage's layer
    // Rows of a sequence are contiguous: copy n * kv_dim elements as floats (kv_dim is even, so F16 pairs up).
    const size_t elem = kv.type == DType::F32 ? 4 : 2, row = static_cast<size_t>(kv.kv_dim) * elem;
    const size_t count = n * row / sizeof(float), seq_bytes = static_cast<size_t>(kv.n_ctx) * row;
    Backend& be = *plan.backends[plan.layer_backend[l]];
    for (void* base : {kv.k, kv.v}) {
      char* b = static_cast<char*>(base);
      be.copy_2d(reinterpret_cast<float*>(b + dst * seq_bytes), count,
                 reinterpret_cast<const float*>(b + src * seq_bytes), count, count, 1);
    }
  }
  impl_->n_past[dst] = n;
}

void Session::truncate(int seq, int n) {
  impl_->check_seq(seq);
  impl_->n_past[seq] = std::clamp(n, 0, impl_->n_past[seq]);
}

}  // namespace hearth

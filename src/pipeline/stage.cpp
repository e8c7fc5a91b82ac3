// A stage is the ordinary model (ModelImpl) loaded for a layer range, its KV cache for those layers and its
// activation buffers; forward() is the normal forward pass with the hidden state handed in and out.
#include "pipeline/stage.h"

#include <algorithm>
#include <cstdlib>
#include <mutex>
#include <set>

#include "gguf/gguf.h"
#include "hearth/error.h"
#include "model/activations.h"
#include "model/model_impl.h"
#include "model/tensor_roles.h"
#include "pipeline/split.h"
#include "placement/layer_stream.h"
#include "runtime/kv_cache.h"

namespace hearth::pipeline {
namespace {

class StageImpl final : public Stage {
 public:
  StageImpl(const ModelPart& part, const LoadParams& load, const SessionParams& params, size_t layer_bytes) {
    model_ = std::make_unique<ModelImpl>(part, load);
    const HParams& h = model_->hparams();
    const PlacementPlan& plan = model_->plan();
    shape_.arch = h.arch;
    shape_.name = model_->info().name;
    shape_.n_embd = h.n_embd;
    shape_.n_layer = h.n_layer;
    shape_.n_vocab = h.n_vocab;
    shape_.layer_begin = plan.layer_begin;
    shape_.layer_end = plan.end(h.n_layer);
    for (int k = 0; k < plan.n_laps(); ++k) shape_.laps.push_back(plan.lap_range(k, h.n_layer));
    shape_.input = plan.input;
    shape_.output = plan.output;
    shape_.n_ctx = params.n_ctx > 0 ? params.n_ctx : std::min(h.n_ctx_train, 4096);
    shape_.n_seq = std::max(1, params.n_seq);
    shape_.n_batch = params.n_batch > 0 ? params.n_batch : 512;
    shape_.layer_bytes = layer_bytes;
    const LayerStream* stream = model_->stream();
    shape_.resident_bytes = stream ? stream->groups().slot_bytes * stream->groups().n_slots : shape_.layer_bytes;

    kv_ = std::make_unique<KvCache>(h, plan, shape_.n_ctx, shape_.n_seq, params.kv_f32 ? DType::F32 : DType::F16);
    std::set<int> used;
    used.insert(0);  // the hidden state enters and leaves through the CPU
    for (int l = shape_.layer_begin; l < shape_.layer_end; ++l)
      if (plan.holds(l, h.n_layer)) used.insert(plan.layer_backend[l]);
    if (plan.output) used.insert(plan.output_backend);
    alloc_activations(h, plan, used, shape_.n_batch, plan.output, acts_, owned_);
  }

  ~StageImpl() override {
    kv_.reset();
    for (auto& [be, p] : owned_) be->release(p);
  }

  const StageShape& shape() const override { return shape_; }
  void set_layer_bytes(size_t bytes) {
    shape_.layer_bytes = bytes;
    if (!model_->stream()) shape_.resident_bytes = bytes;
  }
  const Model* model() const override { return model_->has_tokenizer() ? model_.get() : nullptr; }

  void forward_lap(int lap, const int32_t* tokens, const float* hidden_in, const int32_t* pos, const int32_t* seq,
                   int n, float* hidden_out, const std::vector<int>& logit_rows, float* logits_out) override {
    const int n_laps = static_cast<int>(shape_.laps.size());
    if (lap < 0 || lap >= n_laps)
      throw Error("stage forward: lap " + std::to_string(lap) + " (the stage runs " + std::to_string(n_laps) + ")");
    // Token ids enter on the first lap of the input stage, logits leave on the last lap of the output stage.
    const bool input = shape_.input && lap == 0;
    const bool output = shape_.output && lap + 1 == n_laps;
    if (n <= 0 || n > shape_.n_batch)
      throw Error("stage forward: " + std::to_string(n) + " tokens (the stage takes 1 to " +
                  std::to_string(shape_.n_batch) + ")");
    if (!pos || !seq) throw Error("stage forward: positions and sequences are required");
    if (input && !hidden_in) {
      if (!tokens) throw Error("stage forward: the input stage needs token ids");
      for (int i = 0; i < n; ++i)
        if (tokens[i] < 0 || tokens[i] >= shape_.n_vocab)
          throw Error("token id " + std::to_string(tokens[i]) + " is outside the vocabulary (" +
                      std::to_string(shape_.n_vocab) + ")");
    }
    if (!input && !hidden_in)
      throw Error("stage forward: layers " + range_text(lap) + " need the hidden state of the previous stage");
    if (!output && !hidden_out)
      throw Error("stage forward: layers " + range_text(lap) + " need a hidden_out buffer");
    for (int i = 0; i < n; ++i) {
      if (seq[i] < 0 || seq[i] >= shape_.n_seq)
        throw Error("stage forward: sequence " + std::to_string(seq[i]) + " out of range (stage has " +
                    std::to_string(shape_.n_seq) + ")");
      if (pos[i] < 0 || pos[i] >= shape_.n_ctx)
        throw Error("stage forward: position " + std::to_string(pos[i]) + " outside the context of " +
                    std::to_string(shape_.n_ctx));
    }
    for (size_t i = 0; i < logit_rows.size(); ++i)
      if (logit_rows[i] < 0 || logit_rows[i] >= n || (i > 0 && logit_rows[i] <= logit_rows[i - 1]))
        throw Error("stage forward: logit rows must be ascending indices into the batch");
    if (output && !hidden_out && !logit_rows.empty() && !logits_out)
      throw Error("stage forward: logits wanted but no logits_out buffer");

    ForwardPass pass;
    pass.tokens = tokens;
    pass.pos = pos;
    pass.seq = seq;
    pass.n_tokens = n;
    pass.logit_rows = logit_rows;
    pass.logits_out = logits_out;
    pass.acts = &acts_;
    pass.kv = &kv_->layers();
    pass.hidden_in = hidden_in;
    pass.hidden_out = output ? nullptr : hidden_out;
    pass.observer = model_->layer_observer();
    pass.lap = lap;
    std::lock_guard<std::mutex> lock(model_->forward_mutex());
    model_->arch().forward(pass);
  }

  // Attention reads rows 0..pos of a sequence's slot and every row is written before it is read, so a
  // sequence restarted from position 0 never sees its old rows: nothing to clear.
  void clear_seq(int seq) override {
    if (seq < 0 || seq >= shape_.n_seq)
      throw Error("clear_seq: sequence " + std::to_string(seq) + " out of range (stage has " +
                  std::to_string(shape_.n_seq) + ")");
  }

  StreamStats stream_stats() const override {
    StreamStats s;
    const LayerStream* stream = model_->stream();
    if (!stream) return s;
    LayerStreamStats ls = stream->stats();
    s.streaming = true;
    s.n_groups = ls.n_groups;
    s.n_slots = ls.n_slots;
    s.bytes_read = ls.bytes_read;
    s.groups_loaded = ls.groups_loaded;
    s.load_s = ls.load_s;
    s.wait_s = ls.wait_s;
    s.compute_s = ls.compute_s;
    return s;
  }

 private:
  std::string range_text(int lap) const {
    return "[" + std::to_string(shape_.laps[lap].first) + ", " + std::to_string(shape_.laps[lap].second) + ")";
  }

  std::unique_ptr<ModelImpl> model_;
  StageShape shape_;
  std::unique_ptr<KvCache> kv_;
  std::vector<Activations> acts_;
  std::vector<std::pair<Backend*, void*>> owned_;
};

// Per-layer weight bytes of the "blk.N." tensors of a file.
void add_layer_bytes(const GgufFile& f, std::vector<size_t>& out) {
  for (const GgufTensor& t : f.tensors()) {
    const int l = tensor_layer(t.name);
    if (l >= 0 && l < static_cast<int>(out.size())) out[l] += t.nbytes;
  }
}

}  // namespace

std::unique_ptr<Stage> Stage::open(const std::string& path, const StageSpec& spec, const LoadParams& load,
                                   const SessionParams& params) {
  ModelPart part;
  part.layer_begin = spec.layer_begin;
  part.layer_end = spec.layer_end;
  part.input = spec.input;
  part.output = spec.output;
  part.stream_slots = spec.stream_slots;
  part.laps = spec.laps;
  if (is_split_path(path)) {
    SplitManifest m = read_manifest(path);
    const int end = spec.layer_end < 0 ? m.n_layer : spec.layer_end;
    if (spec.layer_begin < 0 || spec.layer_begin > end || end > m.n_layer)
      throw Error(path + ": layer range [" + std::to_string(spec.layer_begin) + ", " + std::to_string(end) +
                  ") is outside the model's " + std::to_string(m.n_layer) + " layers");
    const std::string dir = split_dir(path);
    // The parts of each lap's layers (the begin part with the first lap, the end part with the last).
    std::vector<std::pair<int, int>> laps = spec.laps;
    if (laps.empty()) laps.push_back({spec.layer_begin, end});
    for (size_t k = 0; k < laps.size(); ++k)
      for (const SplitPart& p :
           parts_for_stage(m, laps[k].first, laps[k].second, spec.input && k == 0, spec.output && k + 1 == laps.size())) {
        std::string file = check_part(dir, p, spec.verify_sha256);
        if (std::find(part.files.begin(), part.files.end(), file) == part.files.end()) part.files.push_back(file);
      }
  } else {
    part.files.push_back(path);
  }
  LoadParams lp = load;
  if (spec.mem_budget > 0) lp.mem_budget = spec.mem_budget;
  auto stage = std::make_unique<StageImpl>(part, lp, params, 0);
  // Weight bytes of the stage's layers, from the file headers (for the driver's plans and figures).
  std::vector<size_t> per_layer(stage->shape().n_layer, 0);
  for (const std::string& f : part.files) add_layer_bytes(*GgufFile::open(f), per_layer);
  size_t total = 0;
  for (const auto& [b, e] : stage->shape().laps)
    for (int l = b; l < e; ++l) total += per_layer[l];
  stage->set_layer_bytes(total);
  return stage;
}

std::vector<StageSpec> plan_stages(const std::vector<size_t>& layer_bytes, int n_stages) {
  const int n = static_cast<int>(layer_bytes.size());
  if (n_stages < 1) throw Error("the number of stages must be at least 1");
  if (n_stages > n)
    throw Error(std::to_string(n_stages) + " stages for " + std::to_string(n) + " layers: at most one stage per layer");
  size_t total = 0;
  for (size_t b : layer_bytes) total += b;
  // Stage s ends at the first layer boundary where the cumulative bytes pass (s + 1) / n_stages of the total,
  // leaving at least one layer for each later stage.
  std::vector<StageSpec> out;
  int begin = 0;
  size_t acc = 0;
  for (int s = 0; s < n_stages; ++s) {
    int end = begin + 1;
    acc += layer_bytes[begin];
    const double target = static_cast<double>(total) * (s + 1) / n_stages;
    while (end < n - (n_stages - s - 1) && static_cast<double>(acc + layer_bytes[end]) <= target + 0.5)
      acc += layer_bytes[end++];
    if (s == n_stages - 1) end = n;
    StageSpec spec;
    spec.layer_begin = begin;
    spec.layer_end = end;
    spec.input = s == 0;
    spec.output = s == n_stages - 1;
    out.push_back(spec);
    begin = end;
  }
  return out;
}

std::vector<StageSpec> loop_stages(const std::vector<StageSpec>& virtual_stages, int n_ranks) {
  const int n = static_cast<int>(virtual_stages.size());
  if (n_ranks < 1 || n % n_ranks != 0)
    throw Error(std::to_string(n) + " layer ranges for " + std::to_string(n_ranks) +
                " ranks: a looped pipeline needs the same number of ranges (laps) on every rank");
  if (n == n_ranks) return virtual_stages;
  std::vector<StageSpec> out(n_ranks);
  for (int r = 0; r < n_ranks; ++r) {
    StageSpec& s = out[r];
    s = virtual_stages[r];
    s.laps.clear();
    for (int v = r; v < n; v += n_ranks)
      s.laps.push_back({virtual_stages[v].layer_begin, virtual_stages[v].layer_end});
    s.layer_begin = s.laps.front().first;
    s.layer_end = s.laps.back().second;
    s.input = r == 0;
    s.output = r == n_ranks - 1;
  }
  return out;
}

std::vector<StageSpec> parse_stage_ranges(const std::string& text, int n_layer) {
  std::vector<StageSpec> out;
  int next = 0;
  size_t i = 0;
  auto fail = [&](const std::string& why) {
    return Error("invalid layer ranges '" + text + "': " + why + " (expected e.g. 0-9,10-21 covering 0-" +
                 std::to_string(n_layer - 1) + ")");
  };
  auto number = [&]() {
    if (i >= text.size() || text[i] < '0' || text[i] > '9') throw fail("expected a layer number");
    long v = 0;
    while (i < text.size() && text[i] >= '0' && text[i] <= '9') {
      v = v * 10 + (text[i++] - '0');
      if (v > 1000000) throw fail("layer number too large");
    }
    return static_cast<int>(v);
  };
  while (i < text.size()) {
    int a = number();
    int b = a;
    if (i < text.size() && text[i] == '-') {
      ++i;
      b = number();
    }
    if (b < a) throw fail("range " + std::to_string(a) + "-" + std::to_string(b) + " is reversed");
    if (a != next) throw fail("range starting at " + std::to_string(a) + " does not continue from layer " + std::to_string(next));
    if (b >= n_layer) throw fail("layer " + std::to_string(b) + " is beyond the model's " + std::to_string(n_layer) + " layers");
    StageSpec s;
    s.layer_begin = a;
    s.layer_end = b + 1;
    out.push_back(s);
    next = b + 1;
    if (i < text.size()) {
      if (text[i] != ',') throw fail(std::string("unexpected '") + text[i] + "'");
      ++i;
      if (i == text.size()) throw fail("trailing comma");
    }
  }
  if (out.empty()) throw fail("no ranges");
  if (next != n_layer) throw fail("layers " + std::to_string(next) + "-" + std::to_string(n_layer - 1) + " are not covered");
  for (size_t s = 0; s < out.size(); ++s) {
    out[s].input = s == 0;
    out[s].output = s + 1 == out.size();
  }
  return out;
}

std::vector<size_t> layer_bytes_of(const std::string& path) {
  if (is_split_path(path)) {
    SplitManifest m = read_manifest(path);
    std::vector<size_t> out(m.n_layer, 0);
    const std::string dir = split_dir(path);
    for (const SplitPart& p : m.parts)
      if (p.role == "layers") add_layer_bytes(*GgufFile::open(check_part(dir, p, false)), out);
    return out;
  }
  std::unique_ptr<GgufFile> f = GgufFile::open(path);
  std::vector<size_t> out(hparams_from_gguf(*f).n_layer, 0);
  add_layer_bytes(*f, out);
  return out;
}

}  // namespace hearth::pipeline

#include <algorithm>
#include <cmath>
#include <thread>

#include "hearth/error.h"
#include "model/model_impl.h"
#include "model/tensor_roles.h"
#include "backend/row_split.h"
#include "placement/layer_stream.h"

namespace hearth {
namespace {

ModelFootprint footprint(const GgufFile& f, const HParams& h, int n_ctx) {
  ModelFootprint fp;
  fp.layer_bytes.assign(h.n_layer, 0);
  for (const GgufTensor& t : f.tensors()) {
    const int l = tensor_layer(t.name);
    if (l >= 0) {
      if (l < h.n_layer) fp.layer_bytes[l] += t.nbytes;
    } else if (is_head_tensor(t.name)) {
      fp.output_bytes += t.nbytes;
    }
  }
  if (!f.find_tensor("output.weight"))
    if (const GgufTensor* e = f.find_tensor("token_embd.weight")) fp.output_bytes += e->nbytes;
  fp.kv_bytes_per_layer = 2ull * n_ctx * h.kv_dim() * 2;
  // Activations for a 512-token batch plus its logits.
  fp.act_bytes = 512ull * 4 * (3ull * h.n_embd + 2ull * h.q_dim() + 2ull * h.kv_dim() + 2ull * h.n_ff + h.n_vocab);
  return fp;
}

// The placement options that are wrong whatever the devices.
void check_placement_params(const LoadParams& params) {
  if (params.split_mode != "layer" && params.split_mode != "row" && params.split_mode != "none")
    throw Error("split mode '" + params.split_mode + "' is not layer, row or none");
  if (!params.tensor_split.empty()) {
    float total = 0;
    for (float s : params.tensor_split) {
      if (!(s >= 0) || !std::isfinite(s)) throw Error("tensor split: shares must be numbers >= 0");
      total += s;
    }
    if (total <= 0) throw Error("tensor split: at least one share must be above 0");
  }
  if (params.mem_budget > 0 && params.n_gpu_layers > 0)
    throw Error("--mem-budget streams layers on the CPU only; it cannot be combined with -ngl");
}

// The GPUs the plan may use: their backends, measured memory, and a note on those that cannot be used.
struct Gpus {
  std::vector<std::unique_ptr<Backend>> backends;
  std::vector<DeviceInfo> info;
  std::string note;
};

Gpus open_gpus(const LoadParams& params, int n_threads) {
  Gpus out;
  if (params.logical_devices > 0) {
    // Stand-ins: GPU 0 opened several times, or CPU backends where there is no GPU.
    const bool gpu = cuda_device_count() > 0;
    for (int i = 0; i < params.logical_devices; ++i) {
      out.backends.push_back(gpu ? make_cuda_backend(0) : make_cpu_backend(n_threads, "CPU#" + std::to_string(i)));
      DeviceInfo d;
      d.name = out.backends.back()->name();
      if (gpu) d.name += '#' + std::to_string(i);
      d.free_bytes = d.total_bytes = out.backends.back()->free_memory() / params.logical_devices;
      out.info.push_back(d);
    }
    return out;
  }
  std::vector<DeviceInfo> gpus = cuda_devices();
  for (size_t g = 0; g < gpus.size(); ++g) {
    try {
      out.backends.push_back(make_cuda_backend(static_cast<int>(g)));
      out.info.push_back(gpus[g]);
    } catch (const Error& e) {
      out.note += std::string("; GPU ") + std::to_string(g) + " unusable: " + e.what();
    }
  }
  return out;
}

}  // namespace

std::unique_ptr<Model> Model::load(const std::string& path, const LoadParams& params) {
  return std::make_unique<ModelImpl>(path, params);
}

namespace {
ModelPart whole_file(const std::string& path) {
  ModelPart part;
  part.files = {path};
  return part;
}
}  // namespace

ModelImpl::ModelImpl(const std::string& path, const LoadParams& params) : ModelImpl(whole_file(path), params) {}

ModelImpl::ModelImpl(const ModelPart& part, const LoadParams& params) {
  if (part.files.empty()) throw Error("no model file given");
  const std::string& path = part.files.front();
  file_ = GgufFile::open(path);
  for (size_t i = 1; i < part.files.size(); ++i) more_files_.push_back(GgufFile::open(part.files[i]));
  HParams h = hparams_from_gguf(*file_);
  const ArchitectureFactory* factory = find_architecture(h.arch);
  if (!factory) {
    std::string known;
    for (const std::string& n : architecture_names()) known += (known.empty() ? "" : ", ") + n;
    throw Error(path + ": unknown architecture '" + h.arch + "' (supported: " + known + ")");
  }
  const int layer_end = part.layer_end < 0 ? h.n_layer : part.layer_end;
  if (part.layer_begin < 0 || part.layer_begin > layer_end || layer_end > h.n_layer)
    throw Error(path + ": layer range [" + std::to_string(part.layer_begin) + ", " + std::to_string(layer_end) +
                ") is outside the model's " + std::to_string(h.n_layer) + " layers");
  for (size_t k = 0; k < part.laps.size(); ++k) {
    auto [b, e] = part.laps[k];
    if (b >= e || b < part.layer_begin || e > layer_end || (k > 0 && b < part.laps[k - 1].second))
      throw Error(path + ": layer ranges of the laps must be ascending, disjoint and within [" +
                  std::to_string(part.layer_begin) + ", " + std::to_string(layer_end) + ")");
  }
  // The tokenizer comes from whichever file has one (a middle part of a split model has none).
  const GgufFile* tok_file = file_.get();
  for (const auto& f : more_files_)
    if (!tok_file->has("tokenizer.ggml.tokens") && f->has("tokenizer.ggml.tokens")) tok_file = f.get();
  if (tok_file->has("tokenizer.ggml.tokens") || (part.input && part.output && part.layer_begin == 0)) {
    tok_ = Tokenizer::from_gguf(*tok_file);
    if (tok_->n_vocab() != h.n_vocab)
      throw Error(tok_file->path() + ": tokenizer has " + std::to_string(tok_->n_vocab()) +
                  " tokens, model expects " + std::to_string(h.n_vocab));
  }
  tok_file_ = tok_file;
  info_ = model_info_from_gguf(*tok_file, h);
  chat_template_ = chat_template_parse(info_.chat_template);

  int n_threads = params.n_threads > 0 ? params.n_threads : static_cast<int>(std::thread::hardware_concurrency());
  backends_.push_back(make_cpu_backend(std::max(1, n_threads)));

  PlanRequest req;
  req.n_gpu_layers = params.n_gpu_layers;
  req.gpu_mem_limit = params.gpu_mem_limit;
  req.tensor_split = params.tensor_split;
  std::string gpu_note;
  std::vector<Backend*> devices = {backends_[0].get()};
  check_placement_params(params);
  if (params.mem_budget > 0) req.n_gpu_layers = 0;  // layer streaming runs on the CPU: no GPU is opened
  if (req.n_gpu_layers != 0) {
    Gpus gpus = open_gpus(params, n_threads);
    gpu_note = gpus.note;
    const int n_gpus = static_cast<int>(gpus.backends.size());
    if (n_gpus > 0 && (params.main_gpu < 0 || params.main_gpu >= n_gpus))
      throw Error("main GPU " + std::to_string(params.main_gpu) + " does not exist (" + std::to_string(n_gpus) +
                  " usable GPU" + (n_gpus == 1 ? ")" : "s)"));
    if (params.split_mode == "none" && n_gpus > 1) {
      std::unique_ptr<Backend> keep = std::move(gpus.backends[params.main_gpu]);
      gpus.backends.clear();
      gpus.backends.push_back(std::move(keep));
      gpus.info = {gpus.info[params.main_gpu]};
      gpu_note += "; --split-mode none: " + gpus.info[0].name + " only";
    }
    for (auto& b : gpus.backends) backends_.push_back(std::move(b));
    if (params.split_mode == "row" && gpus.info.size() > 1) {
      // One device made of all of them: the planner sees what a layer split by the shares can take.
      std::vector<double> shares = row_split_shares(gpus.info, params.tensor_split, params.gpu_mem_limit);
      std::vector<Backend*> parts;
      for (size_t g = 1; g < backends_.size(); ++g) parts.push_back(backends_[g].get());
      row_split_ = make_row_split_backend(parts, shares, params.main_gpu);
      req.gpus = {row_split_device(gpus.info, shares, params.gpu_mem_limit, row_split_->name())};
      req.gpu_mem_limit = 0;
      req.tensor_split.clear();
      devices.push_back(row_split_.get());
      gpu_note += "; --split-mode row: every matrix split by rows in proportion " + describe_shares(shares) +
                  ", the rest on " + parts[params.main_gpu]->name();
    } else {
      req.gpus = gpus.info;
      for (size_t g = 1; g < backends_.size(); ++g) devices.push_back(backends_[g].get());
    }
    if (params.n_gpu_layers > 0 && req.gpus.empty()) {
      const std::string why = cuda_unavailable_reason();
      gpu_note += "; no usable GPU" + (why.empty() ? std::string() : " (" + why + ")") + ", running on CPU";
    }
  }
  int n_ctx = params.n_ctx > 0 ? params.n_ctx : std::min(h.n_ctx_train, 4096);
  ModelFootprint fp = footprint(*file_, h, n_ctx);
  for (const auto& f : more_files_) {
    ModelFootprint more = footprint(*f, h, n_ctx);
    for (int l = 0; l < h.n_layer; ++l) fp.layer_bytes[l] += more.layer_bytes[l];
  }
  plan_.layer_begin = part.layer_begin;
  plan_.layer_end = layer_end;
  plan_.laps = part.laps;
  for (int l = 0; l < h.n_layer; ++l)
    if (!plan_.holds(l, h.n_layer)) fp.layer_bytes[l] = 0;  // another stage's layer
  LayerAssignment la = plan_layers(fp, req);
  plan_.backends = devices;
  plan_.layer_backend = la.layer_device;
  plan_.output_backend = la.output_device;
  plan_.text = la.text + gpu_note;
  plan_.input = part.input;
  plan_.output = part.output;
  summary_.text = plan_.text;
  for (int d : plan_.layer_backend) summary_.layer_device.push_back(plan_.backends[d]->name());
  summary_.output_device = plan_.backends[plan_.output_backend]->name();

  weights_ = std::make_unique<WeightStore>(*file_, params.repack);
  for (const auto& f : more_files_) weights_->add_file(*f);
  if (params.progress) {
    uint64_t total = 0;  // every tensor of the files (another stage's layers are never bound: 1 comes sooner)
    for (const GgufTensor& t : file_->tensors()) total += t.nbytes;
    for (const auto& f : more_files_)
      for (const GgufTensor& t : f->tensors()) total += t.nbytes;
    if (!params.progress(0.0f)) throw Error(path + ": loading cancelled");
    weights_->set_progress(params.progress, total);
  }
  if (params.mem_budget > 0) {
    // The part's layer tensors, as file positions, for streaming when they exceed the budget.
    std::vector<const GgufFile*> files = {file_.get()};
    for (const auto& m : more_files_) files.push_back(m.get());
    std::vector<StreamLayer> layers;
    size_t total = 0;
    for (int l = part.layer_begin; l < layer_end; ++l) {
      if (!plan_.holds(l, h.n_layer)) continue;
      StreamLayer sl;
      sl.layer = l;
      const std::string prefix = "blk." + std::to_string(l) + ".";
      for (const GgufFile* f : files)
        for (const GgufTensor& t : f->tensors())
          if (t.name.rfind(prefix, 0) == 0)
            sl.tensors.push_back({std::string(t.name), f->path(), f->data_offset() + t.offset, t.nbytes});
      total += sl.bytes();
      layers.push_back(std::move(sl));
    }
    if (!layers.empty() && total > params.mem_budget) {
      stream_ = std::make_unique<LayerStream>(std::move(layers), params.mem_budget, part.stream_slots);
      for (const auto& [name, ptr] : stream_->placements()) weights_->place(name, ptr);
      plan_.text += "; " + stream_->describe();
      summary_.text = plan_.text;
    }
  }
  arch_ = (*factory)(*file_, h, *weights_, plan_);
  if (params.progress && !params.progress(1.0f)) throw Error(path + ": loading cancelled");
}

LayerObserver* ModelImpl::layer_observer() const { return stream_.get(); }

StreamCounters ModelImpl::stream_counters() const {
  StreamCounters c;
  if (!stream_) return c;
  LayerStreamStats s = stream_->stats();
  c.n_groups = s.n_groups;
  c.n_slots = s.n_slots;
  c.slot_bytes = s.slot_bytes;
  c.bytes_read = s.bytes_read;
  c.load_s = s.load_s;
  c.wait_s = s.wait_s;
  c.compute_s = s.compute_s;
  return c;
}

ModelImpl::~ModelImpl() {
  arch_.reset();
  weights_.reset();  // device copies go before their backends
  stream_.reset();   // stops its loader before the files go
}

std::vector<int32_t> ModelImpl::tokenize(std::string_view text, bool add_bos, bool parse_special) const {
  return tok_->encode(text, add_bos, parse_special);
}

std::string ModelImpl::token_text(int32_t id) const {
  if (id < 0 || id >= tok_->n_vocab()) return {};
  return std::string(tok_file_->get_array_strings("tokenizer.ggml.tokens")[id]);
}

std::string ModelImpl::format_chat(const std::vector<ChatMessage>& messages, bool add_assistant) const {
  return chat_render(chat_template_, messages, add_assistant, token_text(bos()), token_text(eos()));
}

std::vector<int32_t> ModelImpl::tokenize_chat(const std::vector<ChatMessage>& messages, bool add_assistant) const {
  // The messages are plain text: only the template's markers become control tokens (Tokenizer::encode_chat).
  return tok_->encode_chat(
      chat_render_prompt(chat_template_, messages, add_assistant, token_text(bos()), token_text(eos())));
}

size_t ModelImpl::kv_bytes(int n_ctx) const {
  const HParams& h = hparams();
  return 2ull * h.n_layer * n_ctx * h.kv_dim() * 2;
}

}  // namespace hearth

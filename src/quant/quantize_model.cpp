// hearth quantize: llama-quantize's algorithm (llama_model_quantize_impl) without an importance
// matrix, whose k-quants are then the reference quantizers in quant_ref: same tensor order, same
// metadata, same types, same bytes.
#include "quant/quantize_model.h"

#include <algorithm>
#include <cmath>
#include <exception>
#include <filesystem>
#include <thread>

#include "gguf/gguf_writer.h"
#include "hearth/quantize.h"
#include "quant/quant.h"

namespace hearth {
namespace {

// llama_ftype of Q2_K_S, which llama-quantize refuses to make without an importance matrix.
constexpr uint32_t kFtypeQ2_K_S = 21;

bool contains(std::string_view s, std::string_view part) { return s.find(part) != std::string_view::npos; }

bool is_quantized(DType t) { return dtype_info(t).block_size > 1; }
bool is_float(DType t) { return t == DType::F32 || t == DType::F16 || t == DType::BF16; }

// A head count: a number, or one per layer (an array), of which llama.cpp's rules use layer 0's.
int64_t head_count(const GgufFile& f, const std::string& key, int64_t def) {
  const GgufValue* v = f.find(key);
  if (!v) return def;
  uint64_t n = 0;
  if (v->type == GgufType::ARRAY) {
    std::vector<int64_t> a = f.get_array_int(key);
    if (a.empty()) return def;
    n = static_cast<uint64_t>(std::max<int64_t>(a[0], 0));
  } else {
    n = f.get_uint(key, 0);
  }
  return static_cast<int64_t>(std::min<uint64_t>(n, INT32_MAX));
}

// ggml's dims: ne up to the last one that is not 1 (at least one).
std::vector<int64_t> tensor_dims(const GgufTensor& t) {
  int n = std::clamp(t.n_dims, 1, 4);
  while (n > 1 && t.ne[n - 1] == 1) --n;
  return std::vector<int64_t>(t.ne, t.ne + n);
}

DType tensor_type_from_name(const std::string& name, const char* option) {
  DType t;
  if (!dtype_from_name(name, &t)) throw Error(std::string(option) + ": unknown tensor type '" + name + "'");
  if (!dtype_supported(t) || t == DType::Q8_K)
    throw Error(std::string(option) + ": hearth cannot write tensor type " + std::string(dtype_name(t)));
  return t;
}

// Converts every row of t to type `to` (rows are independent: the result does not depend on the
// thread count). Rows are checked for NaN/Inf, which llama-quantize's validation rejects too.
void convert_tensor(const GgufTensor& t, DType to, uint8_t* dst, int n_threads) {
  const int64_t row_len = t.ne[0];
  const int64_t n_rows = t.n_elements() / row_len;
  const size_t in_rb = row_bytes(t.type, row_len);
  const size_t out_rb = row_bytes(to, row_len);
  int threads = static_cast<int>(std::clamp<int64_t>(std::min<int64_t>(n_threads, n_rows), 1, 512));
  if (row_len * n_rows < 65536) threads = 1;
  auto work = [&](int64_t r0, int64_t r1) {
    std::vector<float> row(static_cast<size_t>(row_len));
    for (int64_t r = r0; r < r1; ++r) {
      dequantize_row_ref(t.type, t.data + static_cast<size_t>(r) * in_rb, row.data(), row_len);
      for (float x : row)
        if (!std::isfinite(x))
          throw Error("tensor " + std::string(t.name) + ": row " + std::to_string(r) +
                      " holds a NaN or infinite value; the input is damaged");
      quantize_row_ref(to, row.data(), dst + static_cast<size_t>(r) * out_rb, row_len);
    }
  };
  if (threads == 1) {
    work(0, n_rows);
    return;
  }
  std::vector<std::thread> pool;
  std::vector<std::exception_ptr> errors(static_cast<size_t>(threads));
  for (int i = 0; i < threads; ++i) {
    pool.emplace_back([&, i] {
      try {
        work(n_rows * i / threads, n_rows * (i + 1) / threads);
      } catch (...) {
        errors[static_cast<size_t>(i)] = std::current_exception();
      }
    });
  }
  for (std::thread& th : pool) th.join();
  for (auto& e : errors)
    if (e) std::rethrow_exception(e);
}

}  // namespace

ModelFacts model_facts(const GgufFile& f) {
  ModelFacts m;
  m.arch = f.require_string("general.architecture");
  const std::string a = m.arch + ".";
  m.n_layer = static_cast<int64_t>(std::min<uint64_t>(f.require_uint(a + "block_count"), INT32_MAX));
  m.n_head = head_count(f, a + "attention.head_count", 0);
  m.n_head_kv = head_count(f, a + "attention.head_count_kv", m.n_head);
  m.n_expert = static_cast<int64_t>(std::min<uint64_t>(f.get_uint(a + "expert_count", 0), INT32_MAX));
  m.has_output = false;
  m.n_attention_wv = 0;
  for (const GgufTensor& t : f.tensors()) {
    if (contains(t.name, "attn_v.weight") || contains(t.name, "attn_qkv.weight") || contains(t.name, "attn_kv_b.weight"))
      ++m.n_attention_wv;
    else if (t.name == "output.weight")
      m.has_output = true;
  }
  return m;
}

std::vector<size_t> llama_tensor_order(const GgufFile& f) {
  const auto& ts = f.tensors();
  std::vector<size_t> order(ts.size());
  std::vector<int64_t> block(ts.size());
  for (size_t i = 0; i < ts.size(); ++i) {
    order[i] = i;
    block[i] = tensor_block(std::string(ts[i].name));
  }
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    if (block[a] != block[b]) return block[a] < block[b];
    return ts[a].name < ts[b].name;
  });
  return order;
}

std::vector<std::string> quantize_type_names() {
  std::vector<std::string> v = file_type_names();
  v.erase(std::remove(v.begin(), v.end(), "q2_k_s"), v.end());
  return v;
}

QuantizeResult quantize_model(const std::string& in, const std::string& out, const QuantizeParams& params,
                              const QuantizeProgressFn& progress) {
  const FileType ft = file_type_from_name(params.type);
  if (ft.id == kFtypeQ2_K_S)
    throw Error("q2_k_s needs an importance matrix (llama-quantize refuses it without one), which hearth quantize "
                "does not take: use q2_k");
  const bool override_output = !params.output_tensor_type.empty();
  const bool override_embd = !params.token_embedding_type.empty();
  const DType output_type = override_output ? tensor_type_from_name(params.output_tensor_type, "--output-tensor-type")
                                            : DType::F32;
  const DType embd_type = override_embd ? tensor_type_from_name(params.token_embedding_type, "--token-embedding-type")
                                        : DType::F32;
  const int n_threads =
      params.n_threads > 0 ? params.n_threads : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));

  std::unique_ptr<GgufFile> f = GgufFile::open(in);
  if (f->get_uint("split.count", 1) > 1)
    throw Error(in + ": one part of a split model (split.count " + std::to_string(f->get_uint("split.count", 1)) +
                "); merge the parts first (llama-gguf-split --merge)");
  const ModelFacts facts = model_facts(*f);

  GgufWriter w;
  for (const auto& [key, value] : f->metadata()) {
    if (key == "split.no" || key == "split.count" || key == "split.tensors.count") continue;
    w.set_value(key, value);
  }
  // llama-quantize sets these last (gguf_set_val removes a key and appends it).
  w.remove_key("general.quantization_version");
  w.set_u32("general.quantization_version", 2);
  w.remove_key("general.file_type");
  w.set_u32("general.file_type", ft.id);

  MixOptions mix;
  mix.substitute = params.substitute_fallbacks;
  mix.pure = params.pure;
  MixPlanner planner(ft, facts, mix);

  QuantizeResult res;
  res.file_type = ft.name;
  res.file_type_id = ft.id;
  res.file_bytes_in = f->file_size();
  const std::vector<size_t> order = llama_tensor_order(*f);
  std::vector<DType> types_out;  // per entry of res.tensors
  res.tensors.reserve(order.size());
  for (size_t idx : order) {
    const GgufTensor& t = f->tensors()[idx];
    const std::string name(t.name);
    const std::vector<int64_t> dims = tensor_dims(t);
    QuantizeTensor qt;
    qt.name = name;
    qt.shape = t.shape_str();
    qt.type_in = std::string(dtype_name(t.type));
    qt.bytes_in = t.nbytes;

    DType to = t.type;
    bool convert = t.n_elements() > 0 && tensor_is_quantizable(name, dims) &&
                   !(params.leave_output_tensor && name == "output.weight");
    if (convert) {
      TypeChoice c = planner.next(name, dims);
      to = c.type;
      if (c.fallback) ++res.n_fallback;
      qt.note = c.note;
      const char* option = nullptr;
      if (override_embd && name == "token_embd.weight") {
        to = embd_type;
        option = "--token-embedding-type";
      }
      if (override_output && name == "output.weight") {
        to = output_type;
        option = "--output-tensor-type";
      }
      if (option) {
        qt.note.clear();
        if (dims[0] % dtype_info(to).block_size != 0)
          throw Error(std::string(option) + " " + std::string(dtype_name(to)) + ": tensor " + name + " has rows of " +
                      std::to_string(dims[0]) + ", not a multiple of its block size " +
                      std::to_string(dtype_info(to).block_size));
      }
      convert = to != t.type;
    }
    if (convert) {
      if (is_quantized(t.type) && !params.allow_requantize)
        throw Error("tensor " + name + " is already quantized (" + qt.type_in +
                    "); requantizing loses quality twice: quantize from an F32/F16/BF16 file, or pass "
                    "--allow-requantize");
      if (!is_float(t.type) && !(is_quantized(t.type) && dtype_supported(t.type)))
        throw Error("tensor " + name + ": cannot convert from type " + qt.type_in);
      if (!dtype_supported(to)) throw Error("tensor " + name + ": hearth cannot write " + std::string(dtype_name(to)));
    }
    qt.type_out = std::string(dtype_name(to));
    qt.converted = convert;
    qt.bytes_out = convert ? GgufWriter::tensor_nbytes(to, dims) : t.nbytes;
    if (!qt.note.empty()) res.notes.push_back(name + ": " + qt.note);
    res.n_weights += static_cast<uint64_t>(t.n_elements());
    res.bytes_in += qt.bytes_in;
    res.bytes_out += qt.bytes_out;
    res.n_converted += convert ? 1 : 0;
    res.tensors.push_back(std::move(qt));
    types_out.push_back(to);
  }

  const size_t n = res.tensors.size();
  for (size_t i = 0; i < n; ++i) {
    const GgufTensor& t = f->tensors()[order[i]];
    const QuantizeTensor* qt = &res.tensors[i];
    const std::vector<int64_t> dims = tensor_dims(t);
    auto report = [&progress, i, n, qt] {
      if (progress) progress(QuantizeProgress{i + 1, n, qt});
    };
    if (!qt->converted) {
      // Copies are borrowed from the mapping; report them as the writer reaches them.
      w.add_tensor_producer(qt->name, t.type, dims, [report, &t](uint8_t* dst, size_t nbytes) {
        report();
        std::copy(t.data, t.data + nbytes, dst);
      });
      continue;
    }
    const DType to = types_out[i];
    w.add_tensor_producer(qt->name, to, dims, [report, &t, to, n_threads](uint8_t* dst, size_t) {
      report();
      convert_tensor(t, to, dst, n_threads);
    });
  }
  w.write(out);
  std::error_code ec;
  uint64_t size = std::filesystem::file_size(out, ec);
  res.file_bytes_out = ec ? 0 : size;
  return res;
}

}  // namespace hearth

#include "llama_gen.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>
#include <set>
#include <thread>

#include "gguf/gguf.h"
#include "gguf/gguf_writer.h"
#include "hearth/error.h"
#include "quant/quant.h"

namespace hearth::gen {
namespace {

// Deterministic, platform-independent random numbers: splitmix64, and an approximately normal
// variate as the centred sum of four 16-bit uniforms (no libm, so every machine writes the same file).
struct Rng {
  uint64_t s;
  uint64_t next() {
    uint64_t z = (s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
  float normal() {
    uint64_t r = next();
    int64_t sum = static_cast<int64_t>(r & 0xffff) + static_cast<int64_t>((r >> 16) & 0xffff) +
                  static_cast<int64_t>((r >> 32) & 0xffff) + static_cast<int64_t>(r >> 48);
    constexpr float kInvStd = 1.0f / 37837.23f;  // sqrt(4 * (65536^2 - 1) / 12)
    return static_cast<float>(sum - 131070) * kInvStd;
  }
};

uint64_t hash_name(uint64_t seed, const std::string& name) {
  uint64_t h = 1469598103934665603ull ^ seed;  // FNV-1a over the name, keyed by the seed
  for (unsigned char c : name) h = (h ^ c) * 1099511628211ull;
  Rng r{h};
  return r.next();
}

// A byte-level SentencePiece vocabulary: <unk> <s> </s>, the 256 byte tokens, then pieces
// ("▁" + letters, letter runs) with decreasing scores, so text tokenizes to real pieces.
void synth_vocab(GgufWriter& w, int64_t n_vocab) {
  if (n_vocab < 3 + 256 + 1) throw Error("synthetic vocab needs at least 260 tokens, asked for " + std::to_string(n_vocab));
  std::vector<std::string> tokens;
  std::vector<float> scores;
  std::vector<int32_t> types;
  std::set<std::string> seen;
  auto add = [&](const std::string& t, int32_t type) {
    if (static_cast<int64_t>(tokens.size()) >= n_vocab || !seen.insert(t).second) return;
    scores.push_back(type == 1 ? -static_cast<float>(tokens.size()) : 0.0f);
    tokens.push_back(t);
    types.push_back(type);
  };
  add("<unk>", 2);
  add("<s>", 3);
  add("</s>", 3);
  char hex[8];
  for (int b = 0; b < 256; ++b) {
    std::snprintf(hex, sizeof hex, "<0x%02X>", b);
    add(hex, 6);
  }
  const std::string sp = "\xe2\x96\x81";  // ▁
  add(sp, 1);
  for (char c = 'a'; c <= 'z'; ++c) add(sp + c, 1);
  for (char c = 'a'; c <= 'z'; ++c) add(std::string(1, c), 1);
  for (char c = 33; c < 127; ++c) add(std::string(1, c), 1);
  // Letter strings of growing length, with and without the word-start marker.
  for (int len = 2; static_cast<int64_t>(tokens.size()) < n_vocab; ++len) {
    std::vector<int> idx(len, 0);
    while (static_cast<int64_t>(tokens.size()) < n_vocab) {
      std::string s;
      for (int i : idx) s += static_cast<char>('a' + i);
      add(sp + s, 1);
      add(s, 1);
      int k = len - 1;
      while (k >= 0 && ++idx[k] == 26) idx[k--] = 0;
      if (k < 0) break;
    }
  }
  w.set_string("tokenizer.ggml.model", "llama");
  w.set_string("tokenizer.ggml.pre", "default");
  w.set_array_strings("tokenizer.ggml.tokens", tokens);
  w.set_array_f32("tokenizer.ggml.scores", scores);
  w.set_array_i32("tokenizer.ggml.token_type", types);
  w.set_u32("tokenizer.ggml.bos_token_id", 1);
  w.set_u32("tokenizer.ggml.eos_token_id", 2);
  w.set_u32("tokenizer.ggml.unknown_token_id", 0);
  w.set_bool("tokenizer.ggml.add_bos_token", true);
  w.set_bool("tokenizer.ggml.add_eos_token", false);
}

// Fills a tensor: rows are independent random streams, split over threads, each quantized as it
// is generated (no full f32 copy). The result does not depend on the thread count.
void fill_tensor(uint8_t* dst, DType type, int64_t row_len, int64_t n_rows, uint64_t seed, float mean, float stddev,
                 int threads) {
  size_t rb = row_bytes(type, row_len);
  int n_threads = static_cast<int>(std::clamp<int64_t>(std::min<int64_t>(threads, n_rows), 1, 256));
  if (row_len * n_rows < 65536) n_threads = 1;
  auto work = [&](int64_t r0, int64_t r1) {
    std::vector<float> row(static_cast<size_t>(row_len));
    for (int64_t r = r0; r < r1; ++r) {
      Rng rng{seed ^ (static_cast<uint64_t>(r) * 0xd1342543de82ef95ull)};
      for (float& x : row) x = mean + stddev * rng.normal();
      quantize_row_ref(type, row.data(), dst + static_cast<size_t>(r) * rb, row_len);
    }
  };
  if (n_threads == 1) {
    work(0, n_rows);
    return;
  }
  std::vector<std::thread> pool;
  std::vector<std::exception_ptr> errors(n_threads);
  for (int t = 0; t < n_threads; ++t) {
    pool.emplace_back([&, t] {
      try {
        work(n_rows * t / n_threads, n_rows * (t + 1) / n_threads);
      } catch (...) {
        errors[t] = std::current_exception();
      }
    });
  }
  for (std::thread& th : pool) th.join();
  for (auto& e : errors)
    if (e) std::rethrow_exception(e);
}

}  // namespace

LlamaShape shape_preset(const std::string& name) {
  LlamaShape s;
  s.name = name;
  if (name == "tiny") return s;
  if (name == "stories") {
    s.n_embd = 64, s.n_layer = 5, s.n_head = 8, s.n_head_kv = 4, s.n_ff = 172, s.n_vocab = 512, s.n_ctx = 2048;
    return s;
  }
  if (name == "tinyllama") {
    s.n_embd = 2048, s.n_layer = 22, s.n_head = 32, s.n_head_kv = 4, s.n_ff = 5632, s.n_vocab = 32000, s.n_ctx = 2048;
    return s;
  }
  if (name == "llama2-7b") {
    s.n_embd = 4096, s.n_layer = 32, s.n_head = 32, s.n_head_kv = 32, s.n_ff = 11008, s.n_vocab = 32000;
    s.n_ctx = 4096;
    return s;
  }
  if (name == "llama3-8b") {
    s.n_embd = 4096, s.n_layer = 32, s.n_head = 32, s.n_head_kv = 8, s.n_ff = 14336, s.n_vocab = 128256;
    s.n_ctx = 8192, s.rope_base = 500000.0;
    return s;
  }
  std::string known;
  for (const std::string& n : shape_preset_names()) known += (known.empty() ? "" : ", ") + n;
  throw Error("unknown shape '" + name + "' (known: " + known + ")");
}

std::vector<std::string> shape_preset_names() { return {"tiny", "stories", "tinyllama", "llama2-7b", "llama3-8b"}; }

std::vector<std::string> gen_arch_names() {
  return {"llama",  "qwen2",     "qwen2moe", "qwen3",   "qwen3moe",   "phi3",     "gemma", "gemma2",
          "gemma3", "gpt2",      "starcoder", "falcon", "granite",   "granitemoe", "command-r"};
}

GenSummary generate_llama(const GenOptions& opt, const std::string& path) {
  const LlamaShape& s = opt.shape;
  if (s.n_embd <= 0 || s.n_layer <= 0 || s.n_head <= 0 || s.n_head_kv <= 0 || s.n_ff <= 0 || s.n_vocab <= 0)
    throw Error("shape: every size must be positive");
  if (s.head_dim == 0 && s.n_embd % s.n_head != 0)
    throw Error("shape: n_embd " + std::to_string(s.n_embd) + " is not a multiple of n_head " + std::to_string(s.n_head));
  if (s.head_dim < 0 || s.head_dim % 2) throw Error("shape: head_dim must be even");
  if (s.n_head % s.n_head_kv != 0)
    throw Error("shape: n_head " + std::to_string(s.n_head) + " is not a multiple of n_head_kv " +
                std::to_string(s.n_head_kv));
  const int64_t head_dim = s.head_dim > 0 ? s.head_dim : s.n_embd / s.n_head;
  const int64_t n_embd_kv = head_dim * s.n_head_kv;
  const int64_t n_embd_q = head_dim * s.n_head;
  const int64_t n_rot = s.n_rot > 0 ? s.n_rot : head_dim;
  if (n_rot > head_dim || n_rot % 2) throw Error("shape: n_rot must be even and at most head_dim");
  int threads = opt.threads > 0 ? opt.threads : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));

  const std::string& arch = opt.arch;
  const auto archs = gen_arch_names();
  if (std::find(archs.begin(), archs.end(), arch) == archs.end()) throw Error("unknown architecture '" + arch + "'");
  const bool gpt2 = arch == "gpt2" || arch == "starcoder";  // LayerNorm, learned positions, biases
  const bool command_r = arch == "command-r";       // LayerNorms without biases, parallel blocks
  const bool layer_norm = gpt2 || arch == "falcon" || command_r;
  const bool parallel = arch == "falcon" || command_r;  // one norm per block
  const std::string a = arch + ".";
  GgufWriter w;
  w.set_string("general.architecture", arch);
  w.set_string("general.name", "hearth-gen " + s.name + " " + opt.file_type.name);
  w.set_u32(a + "context_length", static_cast<uint32_t>(s.n_ctx));
  w.set_u32(a + "embedding_length", static_cast<uint32_t>(s.n_embd));
  w.set_u32(a + "feed_forward_length", static_cast<uint32_t>(s.n_ff));
  w.set_u32(a + "block_count", static_cast<uint32_t>(s.n_layer));
  w.set_u32(a + "attention.head_count", static_cast<uint32_t>(s.n_head));
  w.set_u32(a + "attention.head_count_kv", static_cast<uint32_t>(s.n_head_kv));
  if (layer_norm) {
    w.set_f32(a + "attention.layer_norm_epsilon", static_cast<float>(s.rms_eps));
  } else {
    w.set_f32(a + "attention.layer_norm_rms_epsilon", static_cast<float>(s.rms_eps));
  }
  const bool moe = s.n_expert > 0;
  const bool moe_arch = arch == "qwen2moe" || arch == "qwen3moe" || arch == "granitemoe";
  if (moe && arch != "llama" && !moe_arch)
    throw Error("experts: only for the llama, qwen2moe, qwen3moe and granitemoe architectures");
  if (moe_arch && !moe) throw Error(arch + " needs experts (n_expert)");
  if (arch == "qwen2moe" && s.n_ff_shexp == 0) throw Error("qwen2moe needs a shared expert (n_ff_shexp)");
  if (arch == "granite" || arch == "granitemoe") {  // Granite 3's multipliers
    w.set_f32(a + "embedding_scale", 12.0f);
    w.set_f32(a + "residual_scale", 0.22f);
    w.set_f32(a + "attention.scale", 0.015625f);
    w.set_f32(a + "logit_scale", 8.0f);
  }
  if (s.n_ff_shexp > 0) w.set_u32(a + "expert_shared_feed_forward_length", static_cast<uint32_t>(s.n_ff_shexp));
  if (command_r) w.set_f32(a + "logit_scale", 0.0625f);
  const int64_t n_ff_exp = s.n_ff_exp > 0 ? s.n_ff_exp : s.n_ff;
  if (moe) {
    if (s.n_expert_used <= 0 || s.n_expert_used > s.n_expert) throw Error("shape: n_expert_used must be in [1, n_expert]");
    w.set_u32(a + "expert_count", static_cast<uint32_t>(s.n_expert));
    w.set_u32(a + "expert_used_count", static_cast<uint32_t>(s.n_expert_used));
    // As the converter: Qwen's files always say how wide their experts are.
    if (s.n_ff_exp > 0 || arch == "qwen2moe" || arch == "qwen3moe")
      w.set_u32(a + "expert_feed_forward_length", static_cast<uint32_t>(n_ff_exp));
  }
  const bool gemma = arch.rfind("gemma", 0) == 0;
  if (s.sliding_window > 0) w.set_u32(a + "attention.sliding_window", static_cast<uint32_t>(s.sliding_window));
  if (s.attn_softcap > 0) w.set_f32(a + "attn_logit_softcapping", static_cast<float>(s.attn_softcap));
  if (s.final_softcap > 0) w.set_f32(a + "final_logit_softcapping", static_cast<float>(s.final_softcap));
  if (s.rope_scale > 0) {
    w.set_string(a + "rope.scaling.type", "linear");
    w.set_f32(a + "rope.scaling.factor", static_cast<float>(s.rope_scale));
  }
  if (s.long_rope) {
    // As the converter writes Phi-3's: sqrt(1 + ln(scale) / ln(original context)), scale = context / original.
    const double orig = static_cast<double>(s.n_ctx_orig > 0 ? s.n_ctx_orig : s.n_ctx);
    w.set_f32(a + "rope.scaling.attn_factor",
              static_cast<float>(std::sqrt(1 + std::log(std::max(1.0, s.n_ctx / orig)) / std::log(orig))));
    if (s.n_ctx_orig > 0) w.set_u32(a + "rope.scaling.original_context_length", static_cast<uint32_t>(s.n_ctx_orig));
  }
  if (s.head_dim > 0) {
    w.set_u32(a + "attention.key_length", static_cast<uint32_t>(head_dim));
    w.set_u32(a + "attention.value_length", static_cast<uint32_t>(head_dim));
  }
  if (!gpt2) {
    w.set_f32(a + "rope.freq_base", static_cast<float>(s.rope_base));
    w.set_u32(a + "rope.dimension_count", static_cast<uint32_t>(n_rot));
  }

  int64_t n_vocab = s.n_vocab;
  std::unique_ptr<GgufFile> vocab;
  if (!opt.vocab_path.empty()) {
    vocab = GgufFile::open(opt.vocab_path);
    n_vocab = static_cast<int64_t>(vocab->get_array_strings("tokenizer.ggml.tokens").size());
    if (n_vocab == 0) throw Error(opt.vocab_path + ": no tokenizer.ggml.tokens array");
  }
  w.set_u32(a + "vocab_size", static_cast<uint32_t>(n_vocab));
  w.set_u32("general.file_type", opt.file_type.id);
  w.set_u32("general.quantization_version", 2);
  if (vocab) {
    for (const auto& [k, v] : vocab->metadata())
      if (k.rfind("tokenizer.", 0) == 0) w.set_value(k, v);
  } else {
    synth_vocab(w, n_vocab);
  }

  ModelFacts facts;
  facts.arch = arch;
  facts.n_layer = s.n_layer;
  facts.n_head = s.n_head;
  facts.n_head_kv = s.n_head_kv;
  const bool tied = opt.tied_output || gemma || command_r;  // their heads are the embedding tables
  facts.has_output = !tied;
  facts.n_expert = s.n_expert;

  GenSummary sum;
  std::map<std::string, size_t> counts;
  // A tensor of N(mean, stddev^2) values: norms around 1 (mean 1, norm_scale), others around 0 (scale), unless
  // the call says otherwise.
  auto add = [&](const std::string& name, int layer, std::vector<int64_t> dims, bool is_norm, float mean_of = -1,
                 float stddev_of = -1) {
    // Tensors are added layer by layer, one attn_v each: the layer is llama.cpp's attn_v counter too.
    DType t = tensor_is_quantizable(name, dims) ? tensor_type(opt.file_type, facts, name, layer, dims).type
                                                : DType::F32;
    if (!dtype_supported(t)) throw Error("tensor " + name + ": hearth cannot quantize " + std::string(dtype_name(t)));
    int64_t row_len = dims[0];
    int64_t n_rows = 1;
    for (size_t d = 1; d < dims.size(); ++d) n_rows *= dims[d];
    sum.n_params += static_cast<uint64_t>(row_len * n_rows);
    ++counts[std::string(dtype_name(t))];
    uint64_t seed = hash_name(opt.seed, name);
    float mean = mean_of >= 0 ? mean_of : is_norm ? 1.0f : 0.0f;
    float stddev = stddev_of >= 0 ? stddev_of : is_norm ? opt.norm_scale : opt.scale;
    w.add_tensor_producer(name, t, dims, [=](uint8_t* dst, size_t) {
      fill_tensor(dst, t, row_len, n_rows, seed, mean, stddev, threads);
    });
  };
  // A norm's weight, and its bias (N(0, norm_scale^2)) for a LayerNorm; a bias of a matrix.
  auto norm = [&](const std::string& prefix, int layer) {
    add(prefix + ".weight", layer, {s.n_embd}, true);
    if (layer_norm && !command_r) add(prefix + ".bias", layer, {s.n_embd}, false);
  };
  const int64_t E = s.n_embd, Q = n_embd_q, KV = n_embd_kv, F = s.n_ff;
  add("token_embd.weight", -1, {E, n_vocab}, false);
  if (s.long_rope) {  // divisors of each frequency: around 1 (short) and larger (long), as the real ones
    add("rope_factors_long.weight", -1, {n_rot / 2}, true, 4.0f, 2.0f);
    add("rope_factors_short.weight", -1, {n_rot / 2}, true, 1.0f, 0.3f);
  }
  if (gpt2) add("position_embd.weight", -1, {E, s.n_ctx}, false);
  for (int64_t l = 0; l < s.n_layer; ++l) {
    std::string p = "blk." + std::to_string(l) + ".";
    int li = static_cast<int>(l);
    norm(p + "attn_norm", li);
    if (arch == "falcon" && opt.falcon_norm_2) norm(p + "attn_norm_2", li);
    if (gpt2 || arch == "falcon" || arch == "phi3") {
      add(p + "attn_qkv.weight", li, {E, Q + 2 * KV}, false);
      if (gpt2) add(p + "attn_qkv.bias", li, {Q + 2 * KV}, false);
    } else {
      add(p + "attn_q.weight", li, {E, Q}, false);
      add(p + "attn_k.weight", li, {E, KV}, false);
      add(p + "attn_v.weight", li, {E, KV}, false);
      if (arch == "qwen2" || arch == "qwen2moe") {
        add(p + "attn_q.bias", li, {Q}, false);
        add(p + "attn_k.bias", li, {KV}, false);
        add(p + "attn_v.bias", li, {KV}, false);
      }
    }
    if (arch == "qwen3" || arch == "qwen3moe" || arch == "gemma3") {
      add(p + "attn_q_norm.weight", li, {head_dim}, true);
      add(p + "attn_k_norm.weight", li, {head_dim}, true);
    }
    add(p + "attn_output.weight", li, {Q, E}, false);
    if (gpt2) add(p + "attn_output.bias", li, {E}, false);
    if (arch == "gemma2" || arch == "gemma3") add(p + "post_attention_norm.weight", li, {E}, true);
    if (!parallel) norm(p + "ffn_norm", li);
    if (moe) {
      add(p + "ffn_gate_inp.weight", li, {E, s.n_expert}, false);
      add(p + "ffn_gate_exps.weight", li, {E, n_ff_exp, s.n_expert}, false);
      add(p + "ffn_down_exps.weight", li, {n_ff_exp, E, s.n_expert}, false);
      add(p + "ffn_up_exps.weight", li, {E, n_ff_exp, s.n_expert}, false);
      if (s.n_ff_shexp > 0) {
        add(p + "ffn_gate_shexp.weight", li, {E, s.n_ff_shexp}, false);
        add(p + "ffn_up_shexp.weight", li, {E, s.n_ff_shexp}, false);
        add(p + "ffn_down_shexp.weight", li, {s.n_ff_shexp, E}, false);
        if (arch == "qwen2moe") add(p + "ffn_gate_inp_shexp.weight", li, {E}, false);
      }
    } else if (arch == "phi3") {
      add(p + "ffn_up.weight", li, {E, 2 * F}, false);  // gate rows, then up rows
    } else {
      if (!gpt2 && arch != "falcon") add(p + "ffn_gate.weight", li, {E, F}, false);
      add(p + "ffn_up.weight", li, {E, F}, false);
      if (gpt2) add(p + "ffn_up.bias", li, {F}, false);
    }
    if (!moe) add(p + "ffn_down.weight", li, {F, E}, false);
    if (arch == "gemma2" || arch == "gemma3") add(p + "post_ffw_norm.weight", li, {E}, true);
    if (gpt2) add(p + "ffn_down.bias", li, {E}, false);
  }
  norm("output_norm", -1);
  if (!tied) add("output.weight", -1, {E, n_vocab}, false);

  w.write(path);
  sum.n_tensors = w.n_tensors();
  sum.file_bytes = std::filesystem::file_size(path);
  sum.type_counts.assign(counts.begin(), counts.end());
  return sum;
}

}  // namespace hearth::gen

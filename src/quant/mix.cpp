#include "quant/mix.h"

#include <algorithm>
#include <cctype>
#include <charconv>

#include "hearth/error.h"
#include "quant/quant.h"

namespace hearth {
namespace {

// llama_ftype ids (llama.h).
enum : uint32_t {
  kAllF32 = 0, kF16 = 1, kQ4_0 = 2, kQ4_1 = 3, kQ8_0 = 7, kQ5_0 = 8, kQ5_1 = 9, kQ2_K = 10, kQ3_K_S = 11,
  kQ3_K_M = 12, kQ3_K_L = 13, kQ4_K_S = 14, kQ4_K_M = 15, kQ5_K_S = 16, kQ5_K_M = 17, kQ6_K = 18, kQ2_K_S = 21,
  kBF16 = 32,
};

const FileType kFileTypes[] = {
    {"f32", kAllF32, DType::F32},    {"f16", kF16, DType::F16},         {"bf16", kBF16, DType::BF16},
    {"q8_0", kQ8_0, DType::Q8_0},    {"q4_0", kQ4_0, DType::Q4_0},      {"q4_1", kQ4_1, DType::Q4_1},
    {"q5_0", kQ5_0, DType::Q5_0},    {"q5_1", kQ5_1, DType::Q5_1},      {"q2_k", kQ2_K, DType::Q2_K},
    {"q2_k_s", kQ2_K_S, DType::Q2_K}, {"q3_k_s", kQ3_K_S, DType::Q3_K}, {"q3_k_m", kQ3_K_M, DType::Q3_K},
    {"q3_k_l", kQ3_K_L, DType::Q3_K}, {"q4_k_s", kQ4_K_S, DType::Q4_K}, {"q4_k_m", kQ4_K_M, DType::Q4_K},
    {"q5_k_s", kQ5_K_S, DType::Q5_K}, {"q5_k_m", kQ5_K_M, DType::Q5_K}, {"q6_k", kQ6_K, DType::Q6_K},
};

// llama-quantize's types that hearth has no quantizer for, with their llama_ftype ids.
const std::pair<const char*, uint32_t> kUnsupported[] = {
    {"iq2_xxs", 19}, {"iq2_xs", 20}, {"iq3_xs", 22}, {"iq3_xxs", 23}, {"iq1_s", 24}, {"iq4_nl", 25}, {"iq3_s", 26},
    {"iq3_m", 27},   {"iq2_s", 28},  {"iq2_m", 29},  {"iq4_xs", 30},  {"iq1_m", 31}, {"tq1_0", 36}, {"tq2_0", 37},
};

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

bool contains(const std::string& s, const char* part) { return s.find(part) != std::string::npos; }

bool ends_with(const std::string& s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

int64_t block_size(DType t) { return dtype_info(t).block_size; }
std::string type_name(DType t) { return std::string(dtype_name(t)); }

// Dimensions as ggml_n_dims counts them: trailing 1s do not count.
size_t n_dims(const std::vector<int64_t>& dims) {
  size_t n = dims.size();
  while (n > 1 && dims[n - 1] == 1) --n;
  return n;
}

std::string supported_list() {
  std::string known;
  for (const std::string& k : file_type_names()) known += (known.empty() ? "" : ", ") + k;
  return known;
}

}  // namespace

FileType file_type_from_name(const std::string& name) {
  std::string n = lower(name);
  if (n == "q3_k") n = "q3_k_m";  // llama-quantize's aliases
  if (n == "q4_k") n = "q4_k_m";
  if (n == "q5_k") n = "q5_k_m";
  uint32_t id = 0;
  auto [end, ec] = std::from_chars(n.data(), n.data() + n.size(), id);
  bool numeric = !n.empty() && ec == std::errc() && end == n.data() + n.size();
  for (const FileType& ft : kFileTypes)
    if (ft.name == n || (numeric && ft.id == id)) return ft;
  for (const auto& [iq, iq_id] : kUnsupported)
    if (n == iq || (numeric && id == iq_id))
      throw Error("type '" + name + "' (" + iq + ") is not supported: hearth has no quantizer for it (supported: " +
                  supported_list() + ")");
  if (n.rfind("iq", 0) == 0 || n.rfind("tq", 0) == 0)
    throw Error("type '" + name + "' is not supported: hearth has no quantizer for it (supported: " + supported_list() +
                ")");
  throw Error("unknown type '" + name + "' (supported: " + supported_list() + ")");
}

std::vector<std::string> file_type_names() {
  std::vector<std::string> v;
  for (const FileType& ft : kFileTypes) v.push_back(ft.name);
  return v;
}

bool file_type_is_float(const FileType& ft) {
  return ft.base == DType::F32 || ft.base == DType::F16 || ft.base == DType::BF16;
}

bool ModelFacts::is_70b() const {
  if (n_layer != 80) return false;
  // 80 layers without GQA is LLaMA-65B; with 8 experts, not a size llama.cpp names.
  if (arch == "llama") return n_expert != 8 && n_head != n_head_kv;
  return arch == "deci" || arch == "qwen2" || arch == "olmo";
}

bool use_more_bits(int64_t i, int64_t n) { return i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2; }

int64_t tensor_block(const std::string& name) {
  if (name.rfind("blk.", 0) != 0) return -1;
  const char* p = name.c_str() + 4;
  const char* end = name.c_str() + name.size();
  if (p < end && *p == '+') ++p;  // sscanf's %d accepts a sign
  int64_t v = 0;
  if (std::from_chars(p, end, v).ec != std::errc() || v < INT32_MIN || v > INT32_MAX) return -1;
  return v;
}

bool tensor_is_quantizable(const std::string& name, const std::vector<int64_t>& dims) {
  if (!ends_with(name, "weight") || n_dims(dims) < 2) return false;
  for (const char* part : {"_norm.weight", "ffn_gate_inp.weight", "ssm_conv1d.weight", "time_mix_first.weight",
                           "time_mix_w1.weight", "time_mix_w2.weight", "time_mix_decay_w1.weight",
                           "time_mix_decay_w2.weight", "time_mix_lerp_fused.weight", "attn_rel_b.weight"})
    if (contains(name, part)) return false;
  return name != "position_embd.weight" && name != "token_types.weight";
}

TypeChoice tensor_type(const FileType& ft, const ModelFacts& m, const std::string& name, int64_t layer,
                       const std::vector<int64_t>& dims, const MixOptions& opt) {
  if (dims.empty() || dims[0] <= 0) throw Error("tensor " + name + ": empty shape");
  TypeChoice c;
  c.type = ft.base;
  if (file_type_is_float(ft)) return c;
  const uint32_t f = ft.id;
  const bool falcon = m.arch == "falcon";
  const int64_t nl = m.n_layer;
  const int64_t n_wv = m.n_attention_wv > 0 ? m.n_attention_wv : m.n_layer;
  const int64_t nx = dims[0];
  DType& t = c.type;

  if (opt.pure) {
    // every quantizable tensor keeps the base type; only the fallbacks below apply
  } else if (name == "output.weight" || (!m.has_output && name == "token_embd.weight")) {
    if (falcon || nx % block_size(t) != 0)
      t = DType::Q8_0;
    else if (t != DType::Q8_0)
      t = DType::Q6_K;
  } else if (name == "token_embd.weight") {
    // keeps the file type's base type
  } else if (contains(name, "attn_v.weight")) {
    if (f == kQ2_K) t = m.n_gqa() >= 4 ? DType::Q4_K : DType::Q3_K;
    else if (f == kQ2_K_S && m.n_gqa() >= 4) t = DType::Q4_K;
    else if (f == kQ3_K_M) t = layer < 2 ? DType::Q5_K : DType::Q4_K;
    else if (f == kQ3_K_L) t = DType::Q5_K;
    else if ((f == kQ4_K_M || f == kQ5_K_M) && use_more_bits(layer, n_wv)) t = DType::Q6_K;
    else if (f == kQ4_K_S && layer < 4) t = DType::Q5_K;
    // 70B: 8 heads share attn_v, so it is 8x smaller than attn_q and more bits cost little.
    if (m.is_70b() && (t == DType::Q3_K || t == DType::Q4_K)) t = DType::Q5_K;
    if (m.n_expert == 8) t = DType::Q8_0;
  } else if (contains(name, "attn_k.weight")) {
    if (m.n_expert == 8) t = DType::Q8_0;
  } else if (contains(name, "attn_q.weight")) {
    // only IQ rules
  } else if (contains(name, "ffn_down")) {
    if (m.n_expert > 1 && (layer < 0 || layer >= nl))
      throw Error("tensor " + name + ": layer " + std::to_string(layer) + " is not in [0, " + std::to_string(nl) + ")");
    if (f == kQ2_K) t = DType::Q3_K;
    else if (f == kQ2_K_S) { if (layer < nl / 8) t = DType::Q4_K; }
    else if (f == kQ3_K_M)
      t = layer < nl / 16 ? DType::Q5_K : (!falcon || use_more_bits(layer, nl)) ? DType::Q4_K : DType::Q3_K;
    else if (f == kQ3_K_L) t = falcon ? DType::Q4_K : DType::Q5_K;
    else if (f == kQ4_K_M) {
      if (falcon)
        t = layer < nl / 16 ? DType::Q6_K : use_more_bits(layer, nl) ? DType::Q5_K : DType::Q4_K;
      else if (use_more_bits(layer, nl))
        t = DType::Q6_K;
    }
    else if (f == kQ5_K_M && use_more_bits(layer, nl)) t = DType::Q6_K;
    else if (f == kQ4_K_S && !falcon && layer < nl / 8) t = DType::Q5_K;
  } else if (contains(name, "attn_output.weight")) {
    if (!falcon) {
      if (m.n_expert == 8) {
        if (f == kQ2_K || f == kQ3_K_S || f == kQ3_K_M || f == kQ4_K_S || f == kQ4_K_M) t = DType::Q5_K;
      } else {
        if (f == kQ2_K) t = DType::Q3_K;
        else if (f == kQ3_K_M) t = DType::Q4_K;
        else if (f == kQ3_K_L) t = DType::Q5_K;
      }
    } else if (f == kQ3_K_L) {
      t = DType::Q4_K;
    }
  } else if (contains(name, "attn_qkv.weight")) {
    if (f == kQ3_K_M || f == kQ3_K_L) t = DType::Q4_K;
    else if (f == kQ4_K_M) t = DType::Q5_K;
    else if (f == kQ5_K_M) t = DType::Q6_K;
  }

  if (nx % block_size(t) == 0) return c;
  // llama.cpp's fallbacks for rows that do not fit the block size.
  const DType wanted = t;
  const std::string why = "row length " + std::to_string(nx) + " is not a multiple of the " + type_name(wanted) +
                          " block size " + std::to_string(block_size(wanted));
  c.fallback = true;
  switch (wanted) {
    case DType::Q2_K: case DType::Q3_K: t = DType::IQ4_NL; break;
    case DType::Q4_K: t = DType::Q5_0; break;
    case DType::Q5_K: t = DType::Q5_1; break;
    case DType::Q6_K: t = DType::Q8_0; break;
    default:
      if (!opt.substitute) throw Error("tensor " + name + ": " + why + " (llama-quantize refuses this too)");
      t = DType::F16;
      c.note = why + ", where llama-quantize stops (no fallback for it): f16";
      return c;
  }
  if (nx % block_size(t) != 0) t = DType::F16;
  if (!dtype_supported(t)) {
    if (!opt.substitute)
      throw Error("tensor " + name + ": llama.cpp falls back to " + type_name(t) + " for row length " +
                  std::to_string(nx) + ", which hearth cannot quantize");
    c.note = why + "; llama-quantize falls back to " + type_name(t) + ", which hearth cannot write: q4_0";
    t = DType::Q4_0;  // IQ4_NL's size (4.5 bits per weight) and block (32)
    return c;
  }
  return c;
}

MixPlanner::MixPlanner(FileType ft, ModelFacts facts, MixOptions opt)
    : ft_(std::move(ft)), facts_(std::move(facts)), opt_(opt) {}

TypeChoice MixPlanner::next(const std::string& name, const std::vector<int64_t>& dims) {
  if (file_type_is_float(ft_)) return tensor_type(ft_, facts_, name, -1, dims, opt_);
  // The branches of llama_tensor_get_type that count: attn_v first, ffn_down only for names that
  // reach that branch (output/token_embd/attn_k/attn_q are tested before it).
  const bool is_output = name == "output.weight" || name == "token_embd.weight";
  int64_t layer = tensor_block(name);
  if (!is_output && contains(name, "attn_v.weight")) {
    layer = i_attention_wv_++;
  } else if (!is_output && !contains(name, "attn_k.weight") && !contains(name, "attn_q.weight") &&
             contains(name, "ffn_down")) {
    if (facts_.n_expert <= 1) layer = i_ffn_down_;
    ++i_ffn_down_;
  }
  return tensor_type(ft_, facts_, name, layer, dims, opt_);
}

}  // namespace hearth

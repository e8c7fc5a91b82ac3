// hearth-gen: writes a random-weight Llama-architecture GGUF file of a given shape and type.
//   hearth-gen --shape tinyllama --type q4_k_m -o /tmp/tinyllama-q4_k_m.gguf
#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <exception>

#include "hearth/error.h"
#include "llama_gen.h"

int main(int argc, char** argv) {
  using namespace hearth::gen;
  CLI::App app{"hearth-gen: random-weight GGUF files named and quantized as llama.cpp does"};
  std::string out, shape_name = "tiny", type_name = "f16";
  GenOptions opt;
  int64_t n_embd = 0, n_layer = 0, n_head = 0, n_head_kv = 0, n_ff = 0, n_vocab = 0, n_ctx = 0, head_dim = 0;
  int64_t n_expert = 0, n_expert_used = 0, n_ff_exp = 0, sliding_window = 0;
  double attn_softcap = 0, final_softcap = 0, rope_scale = 0;
  double rope_base = 0, rms_eps = 0;
  std::string shapes, types;
  for (const auto& n : shape_preset_names()) shapes += (shapes.empty() ? "" : ", ") + n;
  for (const auto& n : file_type_names()) types += (types.empty() ? "" : ", ") + n;
  app.add_option("-o,--output", out, "output GGUF path (written atomically)")->required();
  app.add_option("--shape", shape_name, "shape preset: " + shapes)->capture_default_str();
  std::string archs;
  for (const auto& n : gen_arch_names()) archs += (archs.empty() ? "" : ", ") + n;
  app.add_option("--arch", opt.arch, "architecture: " + archs)->capture_default_str();
  app.add_flag("--falcon-norm-2", opt.falcon_norm_2, "falcon: a second LayerNorm per block (as Falcon-40B)");
  app.add_option("--type", type_name, "file type (llama-quantize mix): " + types)->capture_default_str();
  app.add_option("--n-embd", n_embd, "override: hidden size");
  app.add_option("--n-layer", n_layer, "override: number of blocks");
  app.add_option("--n-head", n_head, "override: attention heads");
  app.add_option("--n-head-kv", n_head_kv, "override: key/value heads");
  app.add_option("--n-ff", n_ff, "override: feed-forward size");
  app.add_option("--head-dim", head_dim, "override: attention head size (default n_embd / n_head)");
  app.add_option("--n-expert", n_expert, "a mixture of N experts per layer (llama: Mixtral; qwen3moe)");
  app.add_option("--n-expert-used", n_expert_used, "experts per token");
  app.add_option("--n-ff-exp", n_ff_exp, "an expert's feed-forward size (default --n-ff)");
  int64_t n_ff_shexp = 0;
  app.add_option("--n-ff-shexp", n_ff_shexp, "granitemoe: a shared expert of this feed-forward size");
  app.add_option("--sliding-window", sliding_window, "gemma2/gemma3: the local layers' attention window");
  app.add_option("--attn-softcap", attn_softcap, "gemma2: attn_logit_softcapping");
  app.add_option("--final-softcap", final_softcap, "gemma2: final_logit_softcapping");
  app.add_option("--rope-scale", rope_scale, "linear RoPE scaling factor");
  bool long_rope = false;
  int64_t n_ctx_orig = 0;
  app.add_flag("--long-rope", long_rope, "LongRoPE factors and attention factor (Phi-3 128k, Phi-3.5)");
  int64_t n_rot = 0;
  app.add_option("--n-rot", n_rot, "rotated dims per head (default: all)");
  app.add_option("--n-ctx-orig", n_ctx_orig, "LongRoPE: the original context (long factors beyond it)");
  app.add_option("--n-vocab", n_vocab, "override: vocabulary size (synthetic vocab)");
  app.add_option("--n-ctx", n_ctx, "override: context length");
  app.add_option("--rope-base", rope_base, "override: RoPE frequency base");
  app.add_option("--rms-eps", rms_eps, "override: RMSNorm (LayerNorm) epsilon");
  app.add_option("--vocab", opt.vocab_path, "GGUF to copy the tokenizer from (sets the vocabulary size)");
  app.add_option("--seed", opt.seed, "random seed")->capture_default_str();
  app.add_option("--scale", opt.scale, "standard deviation of matrix weights")->capture_default_str();
  app.add_option("--norm-scale", opt.norm_scale, "norm weights are 1 + norm-scale * N(0,1)")->capture_default_str();
  app.add_flag("--tied", opt.tied_output, "no output.weight (token_embd is the output matrix)");
  app.add_option("-t,--threads", opt.threads, "quantization threads (default: all cores)");
  CLI11_PARSE(app, argc, argv);

  try {
    opt.shape = shape_preset(shape_name);
    opt.file_type = file_type_from_name(type_name);
    LlamaShape& s = opt.shape;
    if (n_embd) s.n_embd = n_embd;
    if (n_layer) s.n_layer = n_layer;
    if (n_head) s.n_head = n_head;
    if (n_head_kv) s.n_head_kv = n_head_kv;
    if (n_ff) s.n_ff = n_ff;
    if (head_dim) s.head_dim = head_dim;
    if (n_expert) s.n_expert = n_expert;
    if (n_expert_used) s.n_expert_used = n_expert_used;
    if (n_ff_exp) s.n_ff_exp = n_ff_exp;
    if (n_ff_shexp) s.n_ff_shexp = n_ff_shexp;
    if (sliding_window) s.sliding_window = sliding_window;
    if (attn_softcap) s.attn_softcap = attn_softcap;
    if (final_softcap) s.final_softcap = final_softcap;
    if (rope_scale) s.rope_scale = rope_scale;
    s.long_rope = long_rope;
    if (n_rot) s.n_rot = n_rot;
    if (n_ctx_orig) s.n_ctx_orig = n_ctx_orig;
    if (n_ctx) s.n_ctx = n_ctx;
    if (rope_base) s.rope_base = rope_base;
    if (rms_eps) s.rms_eps = rms_eps;
    if (n_vocab) {
      if (!opt.vocab_path.empty())
        throw hearth::Error("--n-vocab and --vocab both given: the vocabulary file sets the size");
      s.n_vocab = n_vocab;
    }
    auto t0 = std::chrono::steady_clock::now();
    GenSummary sum = generate_llama(opt, out);
    double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::printf("%s: %s shape (n_embd %lld, %lld layers, %lld/%lld heads, ff %lld), %s, %zu tensors, %.3f B params, "
                "%.1f MiB, %.1f s\n",
                out.c_str(), s.name.c_str(), static_cast<long long>(s.n_embd), static_cast<long long>(s.n_layer),
                static_cast<long long>(s.n_head), static_cast<long long>(s.n_head_kv), static_cast<long long>(s.n_ff),
                opt.file_type.name.c_str(), sum.n_tensors, sum.n_params / 1e9, sum.file_bytes / 1048576.0, secs);
    for (const auto& [type, n] : sum.type_counts) std::printf("  %-6s %zu tensors\n", type.c_str(), n);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "hearth-gen: error: %s\n", e.what());
    return 1;
  }
  return 0;
}

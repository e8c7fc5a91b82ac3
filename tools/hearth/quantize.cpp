// hearth quantize IN.gguf OUT.gguf TYPE: llama-quantize's mixes, written atomically.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <map>

#include "commands.h"
#include "hearth/quantize.h"

namespace hearth::cli {
namespace {

struct QuantizeOptions {
  std::string in, out, type, models_dir;
  bool strict = false;
  QuantizeParams params;
};

std::string mib(uint64_t bytes) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f MiB", bytes / 1048576.0);
  return buf;
}

int quantize(QuantizeOptions& o) {
  o.params.type = o.type;
  o.params.substitute_fallbacks = !o.strict;
  const bool tty = isatty(STDERR_FILENO);
  size_t last_width = 0;
  auto progress = [&](const QuantizeProgress& p) {
    const QuantizeTensor& t = *p.tensor;
    char line[256];
    int w = std::snprintf(line, sizeof line, "[%zu/%zu] %s %s", p.index, p.count, t.name.c_str(),
                          t.converted ? t.type_out.c_str() : (t.type_out + " (copied)").c_str());
    size_t width = w > 0 ? static_cast<size_t>(w) : 0;
    if (tty)
      std::fprintf(stderr, "\r%s%*s", line, width < last_width ? static_cast<int>(last_width - width) : 0, "");
    else
      std::fprintf(stderr, "%s\n", line);
    last_width = width;
  };
  const std::string in = resolve_model(o.in, o.models_dir);
  auto t0 = std::chrono::steady_clock::now();
  QuantizeResult r;
  try {
    r = quantize_model(in, o.out, o.params, progress);
  } catch (...) {
    if (tty && last_width) std::fputc('\n', stderr);
    throw;
  }
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (tty && last_width) std::fputc('\n', stderr);

  // Hundreds of tensors can share one reason (a model whose width fits no k-quant block): a few suffice.
  constexpr size_t kNotes = 4;
  for (size_t i = 0; i < r.notes.size() && i < kNotes; ++i) std::fprintf(stderr, "note: %s\n", r.notes[i].c_str());
  if (r.notes.size() > kNotes)
    std::fprintf(stderr, "note: ... and %zu more tensors where hearth's type differs from llama-quantize's\n",
                 r.notes.size() - kNotes);
  std::map<std::string, int> types;
  for (const QuantizeTensor& t : r.tensors) ++types[t.type_out];
  std::printf("%s -> %s (%s): %zu tensors, %zu converted", o.in.c_str(), o.out.c_str(), r.file_type.c_str(),
              r.tensors.size(), r.n_converted);
  if (r.n_fallback) std::printf(", %zu with a fallback type (rows that do not fit the block)", r.n_fallback);
  std::printf("\n  types:");
  for (const auto& [type, n] : types) std::printf(" %s×%d", type.c_str(), n);
  const double w = r.n_weights ? 8.0 / static_cast<double>(r.n_weights) : 0.0;
  std::printf("\n  size: %s -> %s (%.2f -> %.2f bits per weight), file %s -> %s, %.2f s\n", mib(r.bytes_in).c_str(),
              mib(r.bytes_out).c_str(), w * r.bytes_in, w * r.bytes_out, mib(r.file_bytes_in).c_str(),
              mib(r.file_bytes_out).c_str(), secs);
  return 0;
}

}  // namespace

Runner add_quantize(CLI::App& app) {
  auto o = std::make_shared<QuantizeOptions>();
  std::string types;
  for (const std::string& n : quantize_type_names()) types += (types.empty() ? "" : ", ") + n;
  CLI::App* cmd = app.add_subcommand("quantize", "write a model file with quantized weights (llama-quantize's mixes)");
  cmd->add_option("input", o->in, "the model to read: a GGUF file (F32, F16 or BF16 weights) or a store name")
      ->required();
  cmd->add_option("output", o->out, "file to write (atomically: nothing is left there on failure)")->required();
  cmd->add_option("type", o->type, "file type: " + types + " (q3_k, q4_k, q5_k: the _m mixes)")->required();
  cmd->add_option("-t,--threads", o->params.n_threads, "threads (default: all cores)");
  add_models_option(*cmd, o->models_dir);
  cmd->add_flag("--allow-requantize", o->params.allow_requantize,
                "accept already-quantized input tensors (quality is lost twice)");
  cmd->add_option("--output-tensor-type", o->params.output_tensor_type, "tensor type for output.weight (e.g. q8_0)");
  cmd->add_option("--token-embedding-type", o->params.token_embedding_type,
                  "tensor type for token_embd.weight (e.g. q8_0)");
  cmd->add_flag("--leave-output-tensor", o->params.leave_output_tensor, "keep output.weight as it is in the input");
  cmd->add_flag("--pure", o->params.pure, "no mix rules: every 2-D weight gets the base type (rows that do not fit "
                "still fall back)");
  cmd->add_flag("--strict", o->strict,
                "fail where llama-quantize fails (a row that fits no block, a fallback to a type hearth cannot "
                "write) instead of using F16 or Q4_0 for that tensor");
  return [o] { return quantize(*o); };
}

}  // namespace hearth::cli

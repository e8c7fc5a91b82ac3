#include "llama_flags.h"

#include <algorithm>
#include <regex>

#include "hearth/error.h"

namespace hearth::cli {
namespace {

// Flags with a hearth long option of the same meaning.
struct Rename {
  const char* llama;
  const char* hearth;
};
constexpr Rename kRenames[] = {
    {"-ngl", "--n-gpu-layers"}, {"-sm", "--split-mode"},      {"-ts", "--tensor-split"},
    {"-mg", "--main-gpu"},      {"-sys", "--system"},         {"-md", "--model-draft"},
    {"-cnv", "--conversation"}, {"-no-cnv", "--no-conversation"}, {"-np", "--parallel"},
};

// llama.cpp's values of -fa / --flash-attn (on|off|auto; llama-bench: 0|1).
bool is_flash_attn_value(const std::string& v) {
  static const char* const kValues[] = {"on", "off", "auto", "0", "1", "true", "false"};
  return std::find(std::begin(kValues), std::end(kValues), v) != std::end(kValues);
}

// Options whose value is free text, which may look like a flag ("-p -xyz" is a prompt).
bool takes_text(const std::string& a) {
  static const char* const kText[] = {"-p",      "--prompt", "-sys",      "--system", "-j",        "--json-schema",
                                      "--choice", "--alias", "--api-key", "--name",   "--template"};
  return std::find(std::begin(kText), std::end(kText), a) != std::end(kText);
}

const std::string& known_list() {
  static const std::string s = "-ngl -sm -ts -mg -sys -md -cnv -no-cnv -fa -ctk -ctv -np -cb -dev";
  return s;
}

}  // namespace

std::vector<std::string> translate_llama_flags(const std::vector<std::string>& args) {
  static const std::regex kMultiLetter("-[A-Za-z][A-Za-z-]*[A-Za-z]");
  std::vector<std::string> out;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (!out.empty() && takes_text(out.back())) {  // a prompt such as "-ngl" is a prompt
      out.push_back(a);
      continue;
    }
    if (a == "--") {  // everything after it is positional
      out.insert(out.end(), args.begin() + static_cast<std::ptrdiff_t>(i), args.end());
      break;
    }
    auto rename = std::find_if(std::begin(kRenames), std::end(kRenames), [&](const Rename& r) { return a == r.llama; });
    if (rename != std::end(kRenames)) {
      out.push_back(rename->hearth);
      continue;
    }
    const bool has_next = i + 1 < args.size();
    if (a == "-fa" || a == "--flash-attn") {
      // llama.cpp's flash attention: -fa alone (older releases) or -fa on|off|auto. hearth's option takes a value.
      if (has_next && is_flash_attn_value(args[i + 1])) out.push_back("--flash-attn=" + args[++i]);
      else out.push_back("--flash-attn=on");
      continue;
    }
    if (a == "-ctk" || a == "-ctv" || a == "--cache-type-k" || a == "--cache-type-v") {
      if (!has_next) throw Error(a + " needs a type");
      const std::string& t = args[++i];
      if (t != "f16" && t != "F16")
        throw Error(a + " " + t + ": hearth's KV cache is F16 only (the only value " + a + " takes is f16)");
      continue;  // F16: what hearth does anyway
    }
    if (a == "-cb" || a == "--cont-batching") continue;  // hearth serve always batches continuously
    if (a == "-nocb" || a == "--no-cont-batching")
      throw Error(a + ": hearth serve always batches requests continuously (use --parallel 1 for one at a time)");
    if (a == "-dev" || a == "--device") {
      if (has_next && args[i + 1] == "none") {  // llama.cpp: no GPU
        ++i;
        out.push_back("--n-gpu-layers");
        out.push_back("0");
        continue;
      }
      throw Error(a + ": hearth chooses the GPUs itself; use -ngl 0 for the CPU only, --split-mode none --main-gpu N "
                      "for one GPU, --tensor-split to share them (CUDA_VISIBLE_DEVICES hides GPUs)");
    }
    if (a == "-ns" || a == "--sequences")
      throw Error(a + ": hearth has no --sequences; for N sequences at once use `hearth bench --parallel N` or "
                      "`hearth serve --parallel N`");
    if (a == "-hf" || a == "-hfr" || a == "--hf-repo")
      throw Error(a + ": hearth takes a Hugging Face file as the model itself: -m hf:ORG/REPO/FILE.gguf (or `hearth "
                      "pull hf:ORG/REPO/FILE.gguf`)");
    if (std::regex_match(a, kMultiLetter))
      throw Error("unknown option '" + a + "': hearth's single-dash options are one letter (-m -p -n -c -t ...); of "
                  "llama.cpp's multi-letter flags it takes " + known_list() + " (see `hearth COMMAND --help`)");
    out.push_back(a);
  }
  return out;
}

}  // namespace hearth::cli

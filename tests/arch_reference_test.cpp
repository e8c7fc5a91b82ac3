// Every architecture hearth runs, against llama.cpp: tests/data/arch_reference.json holds llama.cpp's logits
// (every 8th id at each position, and the argmax) for small random-weight files of each architecture, written by
// bench/llama_cpp/arch_references.py with hearth-gen and llama.cpp's public API. The test makes the same files
// (the generator is deterministic; their SHA-256 must equal the recorded one) and compares hearth's logits: the
// whole prompt in one batch, then token by token; on the CPU, partly offloaded to a stand-in device, and split
// by rows over two.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "hearth/error.h"
#include "hearth/model.h"
#include "hearth/session.h"
#include "llama_gen.h"
#include "store/sha256.h"

namespace hearth {
namespace {

using nlohmann::json;

json references() {
  std::ifstream f(std::filesystem::path(__FILE__).parent_path() / "data" / "arch_reference.json");
  return json::parse(f);
}

gen::GenOptions options_from(const std::vector<std::string>& args) {
  gen::GenOptions opt;
  opt.shape = gen::shape_preset("tiny");  // hearth-gen's default shape (its name is in general.name)
  opt.threads = 1;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "--falcon-norm-2" || a == "--long-rope") {
      (a == "--long-rope" ? opt.shape.long_rope : opt.falcon_norm_2) = true;
      continue;
    }
    if (i + 1 >= args.size()) throw std::runtime_error("flag without a value: " + a);
    const std::string& v = args[++i];
    if (a == "--arch") opt.arch = v;
    else if (a == "--type") opt.file_type = gen::file_type_from_name(v);
    else if (a == "--n-embd") opt.shape.n_embd = std::stoll(v);
    else if (a == "--n-layer") opt.shape.n_layer = std::stoll(v);
    else if (a == "--n-head") opt.shape.n_head = std::stoll(v);
    else if (a == "--n-head-kv") opt.shape.n_head_kv = std::stoll(v);
    else if (a == "--n-ff") opt.shape.n_ff = std::stoll(v);
    else if (a == "--head-dim") opt.shape.head_dim = std::stoll(v);
    else if (a == "--n-expert") opt.shape.n_expert = std::stoll(v);
    else if (a == "--n-expert-used") opt.shape.n_expert_used = std::stoll(v);
    else if (a == "--n-ff-exp") opt.shape.n_ff_exp = std::stoll(v);
    else if (a == "--n-ff-shexp") opt.shape.n_ff_shexp = std::stoll(v);
    else if (a == "--sliding-window") opt.shape.sliding_window = std::stoll(v);
    else if (a == "--attn-softcap") opt.shape.attn_softcap = std::stod(v);
    else if (a == "--final-softcap") opt.shape.final_softcap = std::stod(v);
    else if (a == "--rope-scale") opt.shape.rope_scale = std::stod(v);
    else if (a == "--n-ctx-orig") opt.shape.n_ctx_orig = std::stoll(v);
    else if (a == "--n-rot") opt.shape.n_rot = std::stoll(v);
    else if (a == "--n-vocab") opt.shape.n_vocab = std::stoll(v);
    else if (a == "--n-ctx") opt.shape.n_ctx = std::stoll(v);
    else if (a == "--scale") opt.scale = std::stof(v);
    else if (a == "--seed") opt.seed = std::stoull(v);
    else throw std::runtime_error("hearth-gen flag the test does not know: " + a);
  }
  return opt;
}

// The logits after every token: in one batch, or one token per forward pass.
std::vector<float> all_logits(Model& m, const std::vector<int32_t>& ids, bool batched) {
  const size_t V = m.info().n_vocab;
  std::vector<float> out(ids.size() * V);
  Session s(m, SessionParams{});
  if (batched) {
    s.decode_all(ids, out.data());
  } else {
    for (size_t i = 0; i < ids.size(); ++i) {
      const float* l = s.decode(std::span<const int32_t>(&ids[i], 1));
      std::copy(l, l + V, out.begin() + i * V);
    }
  }
  return out;
}

class ArchReference : public ::testing::TestWithParam<int> {};

TEST_P(ArchReference, LogitsMatchLlamaCpp) {
  const json ref = references();
  const json& m = ref["models"][GetParam()];
  const std::string name = m["name"];
  SCOPED_TRACE(name);
  const std::string dir = std::string(HEARTH_TEST_TMP) + "/arch";
  std::filesystem::create_directories(dir);
  const std::string path = dir + "/" + name + "." + std::to_string(::getpid()) + ".gguf";
  gen::generate_llama(options_from(m["gen_args"].get<std::vector<std::string>>()), path);
  ASSERT_EQ(sha256_file(path), m["sha256"].get<std::string>())
      << "hearth-gen no longer writes the file llama.cpp was run on: run bench/llama_cpp/arch_references.py";

  const bool quantized = name.find("f32") == std::string::npos;
  // F32 files differ from llama.cpp only by summation order (~1e-3 on logits of magnitude ~3); quantized ones
  // also by where a rounding of the 8-bit activations flips. Relative to the largest logit of the row.
  const double rel_tol = quantized ? 0.05 : 3e-3;
  const std::vector<int32_t> ids = ref["ids"].get<std::vector<int32_t>>();
  const int stride = ref["stride"];
  const int V = m["n_vocab"];
  // The CPU alone; layer 0 on the CPU and layer 1 and the head on a stand-in device (partial offload); every
  // matrix cut by rows over two stand-ins (--split-mode row).
  for (const std::string placement : {"cpu", "partial", "row"})
    for (bool batched : {true, false}) {
      LoadParams lp;
      lp.n_threads = 2;
      lp.n_gpu_layers = placement == "cpu" ? 0 : placement == "partial" ? 1 : 99;
      if (placement != "cpu") lp.logical_devices = placement == "partial" ? 1 : 2;
      if (placement == "row") lp.split_mode = "row";
      auto model = Model::load(path, lp);
      ASSERT_EQ(static_cast<int>(model->info().n_vocab), V);
      const std::vector<float> got = all_logits(*model, ids, batched);
      int argmax_misses = 0;
      for (size_t p = 0; p < ids.size(); ++p) {
        const json& row = m["positions"][p];
        const float* g = got.data() + p * V;
        double max_diff = 0, max_ref = 0;
        for (size_t k = 0; k < row["logits"].size(); ++k) {
          const double r = row["logits"][k].get<double>();
          max_diff = std::max(max_diff, std::fabs(g[k * stride] - r));
          max_ref = std::max(max_ref, std::fabs(r));
        }
        EXPECT_LT(max_diff, rel_tol * max_ref) << "position " << p << ", " << placement << ", batched " << batched;
        argmax_misses += static_cast<int>(std::max_element(g, g + V) - g) != row["argmax"].get<int>();
      }
      EXPECT_LE(argmax_misses, quantized ? 1 : 0) << placement << ", batched " << batched;
    }
  std::filesystem::remove(path);
}

INSTANTIATE_TEST_SUITE_P(Models, ArchReference, ::testing::Range(0, static_cast<int>(references()["models"].size())),
                         [](const ::testing::TestParamInfo<int>& info) {
                           std::string n = references()["models"][info.param]["name"];
                           std::replace(n.begin(), n.end(), '-', '_');
                           return n;
                         });

// GPT-2 has a learned embedding per position: a longer context is refused with the limit, not run off the table.
TEST(ArchReference, ContextBeyondLearnedPositionsIsAnError) {
  gen::GenOptions opt = options_from({"--arch", "gpt2", "--n-head-kv", "2", "--type", "f32", "--n-embd", "64",
                                      "--n-layer", "1", "--n-head", "2", "--n-ff", "128", "--n-vocab", "300",
                                      "--n-ctx", "32"});
  const std::string dir = std::string(HEARTH_TEST_TMP) + "/arch";
  std::filesystem::create_directories(dir);
  const std::string path = dir + "/gpt2-positions." + std::to_string(::getpid()) + ".gguf";
  gen::generate_llama(opt, path);
  LoadParams lp;
  lp.n_gpu_layers = 0;
  auto model = Model::load(path, lp);
  SessionParams sp;
  sp.n_ctx = 33;
  try {
    Session s(*model, sp);
    ADD_FAILURE() << "a 33-token context was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("32 learned positions"), std::string::npos) << e.what();
  }
  Session fits(*model, SessionParams{});  // the default context is the training context: 32
  EXPECT_EQ(fits.n_ctx(), 32);
  std::filesystem::remove(path);
}

// The architectures the registry knows are the ones the reference covers (a new one needs its reference).
TEST(ArchReference, EveryGeneratedArchitectureHasAReference) {
  const json ref = references();
  for (const std::string& arch : gen::gen_arch_names()) {
    bool found = false;
    for (const json& m : ref["models"]) {
      const auto args = m["gen_args"].get<std::vector<std::string>>();
      found |= std::find(args.begin(), args.end(), arch) != args.end();
    }
    EXPECT_TRUE(found) << arch;
  }
}

}  // namespace
}  // namespace hearth

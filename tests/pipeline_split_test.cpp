// `hearth split`: every part is a valid GGUF file holding exactly its tensors; stages opened from the parts decode
// what the whole file decodes; damaged, missing or malformed parts and manifests give clear errors.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <functional>
#include <fstream>
#include <set>

#include "gguf/gguf.h"
#include "model/hparams.h"
#include "pipeline/split.h"
#include "pipeline_test_util.h"
#include "store/sha256.h"

namespace hearth {
namespace {

namespace fs = std::filesystem;
using pipeline::SplitManifest;
using pipeline::SplitOptions;
using pipeline::Stage;
using pipeline::StageSpec;
using test::fixture;

const char* kStories = "stories260K/stories260K.gguf";

std::string fresh_dir(const std::string& name) {
  std::string dir = test::tmp_dir("split") + "/" + name + "-" + std::to_string(::getpid());
  fs::remove_all(dir);
  return dir;
}

// Every tensor of the source is in some part; layer tensors in exactly one; each part's own tensors are
// byte-identical to the source's.
void check_parts(const std::string& source, const std::string& dir, const SplitManifest& m) {
  auto src = GgufFile::open(source);
  std::set<std::string> seen;
  for (const auto& p : m.parts) {
    const std::string path = dir + "/" + p.file;
    auto f = GgufFile::open(path);  // a valid GGUF file
    HParams h = hparams_from_gguf(*f);
    EXPECT_EQ(h.n_layer, m.n_layer);
    EXPECT_EQ(h.n_vocab, m.n_vocab);
    EXPECT_EQ(fs::file_size(path), p.size);
    EXPECT_EQ(sha256_file(path), p.sha256);
    EXPECT_EQ(f->get_string("hearth.part.role"), p.role);
    EXPECT_EQ(f->has("tokenizer.ggml.tokens"), p.role != "layers") << p.file;
    for (const GgufTensor& t : f->tensors()) {
      const GgufTensor* s = src->find_tensor(t.name);
      ASSERT_NE(s, nullptr) << t.name;
      ASSERT_EQ(t.nbytes, s->nbytes);
      EXPECT_EQ(std::memcmp(t.data, s->data, t.nbytes), 0) << t.name;
      std::string name(t.name);
      if (name.rfind("blk.", 0) == 0) {
        EXPECT_TRUE(seen.insert(name).second) << name << " in two parts";
        int l = std::atoi(name.c_str() + 4);
        EXPECT_TRUE(p.role == "layers" && l >= p.layer_begin && l < p.layer_end) << name << " in " << p.file;
      }
      seen.insert(name);
    }
  }
  for (const GgufTensor& t : src->tensors()) EXPECT_TRUE(seen.count(std::string(t.name))) << t.name << " lost";
}

TEST(Split, Stories260KPartsAreValidAndStagesFromPartsMatch) {
  const std::string path = fixture(kStories);
  HEARTH_REQUIRE_FIXTURE(path);
  auto expected = test::read_ids(fixture("stories260K/expected/run_t0_n200.generated_ids.txt"));
  const std::string dir = fresh_dir("stories-per-layer");
  SplitOptions opt;
  opt.per_layer = true;
  SplitManifest m = pipeline::split_model(path, dir, opt);
  ASSERT_EQ(m.parts.size(), 7u);  // begin, 5 layers, end
  EXPECT_EQ(m.parts.front().role, "begin");
  EXPECT_EQ(m.parts.back().role, "end");
  check_parts(path, dir, m);
  SplitManifest read = pipeline::read_manifest(dir);
  EXPECT_EQ(read.parts.size(), m.parts.size());
  EXPECT_EQ(read.n_layer, 5);
  // Stages over the directory (or its manifest) read only their parts and decode llama2.c's ids.
  const auto bytes = pipeline::layer_bytes_of(dir);
  ASSERT_EQ(bytes.size(), 5u);
  for (int n = 1; n <= 4; ++n) {
    auto stages = test::open_chain(n % 2 ? dir : dir + "/manifest.json", pipeline::plan_stages(bytes, n),
                                   test::cpu_load());
    EXPECT_EQ(test::greedy_chain(stages, {1}, 200).ids, expected) << n << " stages";
  }
  // Middle stages have no tokenizer; the input stage does.
  auto stages = test::open_chain(dir, pipeline::parse_stage_ranges("0,1-3,4", 5), test::cpu_load());
  EXPECT_NE(stages[0]->model(), nullptr);
  EXPECT_EQ(stages[1]->model(), nullptr);
  EXPECT_NE(stages[2]->model(), nullptr);
  // Streaming from parts.
  StageSpec whole;
  whole.mem_budget = (bytes[0] + bytes[1]) * 2;
  whole.verify_sha256 = true;
  auto streamed = test::open_chain(dir, {whole}, test::cpu_load());
  EXPECT_TRUE(streamed[0]->stream_stats().streaming);
  EXPECT_EQ(test::greedy_chain(streamed, {1}, 200).ids, expected);
}

TEST(Split, StagesAndRangesOptions) {
  const std::string path = fixture(kStories);
  HEARTH_REQUIRE_FIXTURE(path);
  SplitOptions opt;
  opt.stages = 2;
  const std::string dir = fresh_dir("stories-2");
  SplitManifest m = pipeline::split_model(path, dir, opt);
  ASSERT_EQ(m.parts.size(), 4u);
  EXPECT_EQ(m.parts[1].layer_begin, 0);
  EXPECT_EQ(m.parts[2].layer_end, 5);
  check_parts(path, dir, m);
  opt.ranges = "0-3,4";
  const std::string dir2 = fresh_dir("stories-ranges");
  SplitManifest r = pipeline::split_model(path, dir2, opt);
  ASSERT_EQ(r.parts.size(), 4u);
  EXPECT_EQ(r.parts[1].file, "layers-000-003.gguf");
  EXPECT_EQ(r.parts[2].file, "layers-004-004.gguf");
  // A stage whose range straddles two parts opens both.
  auto expected = test::read_ids(fixture("stories260K/expected/run_t0_n200.generated_ids.txt"));
  auto stages = test::open_chain(dir2, pipeline::parse_stage_ranges("0-2,3-4", 5), test::cpu_load());
  EXPECT_EQ(test::greedy_chain(stages, {1}, 200).ids, expected);
  opt.ranges = "0-2";
  EXPECT_THROW(pipeline::split_model(path, fresh_dir("bad"), opt), Error);
}

// Tied embeddings: no output.weight, so the end part carries token_embd as the head.
TEST(Split, TiedEmbeddingsModelKeepsTheHeadInTheEndPart) {
  const std::string path = test::tinyllama_shaped("q8_0", true);
  const std::string dir = fresh_dir("tied");
  SplitOptions opt;
  opt.stages = 3;
  SplitManifest m = pipeline::split_model(path, dir, opt);
  check_parts(path, dir, m);
  auto end = GgufFile::open(dir + "/end.gguf");
  EXPECT_NE(end->find_tensor("token_embd.weight"), nullptr);
  EXPECT_EQ(end->find_tensor("output.weight"), nullptr);
  const std::vector<int32_t> prompt = {1, 2, 3, 500, 7};
  test::GreedyRun single = test::greedy_single(path, prompt, 16, test::cpu_load());
  auto stages = test::open_chain(dir, pipeline::plan_stages(pipeline::layer_bytes_of(dir), 3), test::cpu_load());
  test::GreedyRun chain = test::greedy_chain(stages, prompt, 16);
  EXPECT_EQ(chain.ids, single.ids);
  EXPECT_EQ(test::max_abs_diff(chain, single), 0.0f);
}

// Other architectures: GPT-2's position embeddings go with the token embeddings into the begin part and the final
// LayerNorm's bias with the head into the end part; Gemma 3's local/global layers and a mixture of experts run
// from layer parts as from the whole file.
TEST(Split, OtherArchitecturesKeepTheirInputAndHeadTensors) {
  for (const std::string arch : {"gpt2", "falcon", "gemma3", "qwen3moe"}) {
    SCOPED_TRACE(arch);
    gen::GenOptions opt;
    opt.shape = gen::shape_preset("tiny");
    opt.arch = arch;
    opt.shape.n_layer = 6;
    opt.shape.n_embd = 128;
    opt.shape.n_head = 4;
    opt.shape.n_head_kv = arch == "gpt2" ? 4 : 2;
    opt.shape.n_ff = 256;
    if (arch == "gemma3") opt.shape.sliding_window = 3;
    if (arch == "qwen3moe") opt.shape.n_expert = 4, opt.shape.n_expert_used = 2;
    opt.file_type = gen::file_type_from_name("q8_0");
    opt.scale = 0.08f;
    opt.threads = 2;
    const std::string path = fresh_dir(arch) + ".gguf";
    gen::generate_llama(opt, path);
    const std::string dir = fresh_dir(arch + "-parts");
    SplitOptions so;
    so.stages = 3;
    SplitManifest m = pipeline::split_model(path, dir, so);
    check_parts(path, dir, m);
    auto begin = GgufFile::open(dir + "/begin.gguf");
    auto end = GgufFile::open(dir + "/end.gguf");
    if (arch == "gpt2") {
      EXPECT_NE(begin->find_tensor("position_embd.weight"), nullptr);
    }
    if (arch == "gpt2" || arch == "falcon") {
      EXPECT_NE(end->find_tensor("output_norm.bias"), nullptr);
      EXPECT_EQ(begin->find_tensor("output_norm.bias"), nullptr);
    }
    const std::vector<int32_t> prompt = {1, 2, 3, 200, 7, 9};
    test::GreedyRun single = test::greedy_single(path, prompt, 12, test::cpu_load());
    auto stages = test::open_chain(dir, pipeline::plan_stages(pipeline::layer_bytes_of(dir), 3), test::cpu_load());
    test::GreedyRun chain = test::greedy_chain(stages, prompt, 12);
    EXPECT_EQ(chain.ids, single.ids);
    EXPECT_EQ(test::max_abs_diff(chain, single), 0.0f);
    fs::remove(path);
  }
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(Split, DamagedMissingOrMalformedPartsGiveClearErrors) {
  const std::string path = fixture(kStories);
  HEARTH_REQUIRE_FIXTURE(path);
  const std::string dir = fresh_dir("damaged");
  SplitOptions opt;
  opt.stages = 2;
  SplitManifest m = pipeline::split_model(path, dir, opt);
  const std::string layer_part = dir + "/" + m.parts[1].file;
  auto open_all = [&](bool verify) {
    StageSpec s;
    s.verify_sha256 = verify;
    Stage::open(dir, s, test::cpu_load(), test::stage_params(64));
  };
  // A flipped byte keeps the size: only the checksum sees it.
  {
    std::fstream f(layer_part, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(static_cast<std::streamoff>(fs::file_size(layer_part) - 10));
    f.put('\x5a');
  }
  EXPECT_NE(error_of([&] { open_all(true); }).find("SHA-256"), std::string::npos);
  // Truncated.
  fs::resize_file(layer_part, fs::file_size(layer_part) - 100);
  std::string e = error_of([&] { open_all(false); });
  EXPECT_NE(e.find("manifest says"), std::string::npos) << e;
  // Missing.
  fs::remove(layer_part);
  e = error_of([&] { open_all(false); });
  EXPECT_NE(e.find("split part missing"), std::string::npos) << e;
  // A stage that does not need the missing part still opens (a node stores only its parts).
  StageSpec last;
  last.layer_begin = m.parts[2].layer_begin;
  last.input = false;
  EXPECT_NO_THROW(Stage::open(dir, last, test::cpu_load(), test::stage_params(64)));
  // Malformed manifests.
  const std::string manifest = dir + "/manifest.json";
  for (const char* bad :
       {"{", "[]", "{\"format\":\"other\"}", "{\"format\":\"hearth-split\",\"version\":1}",
        "{\"format\":\"hearth-split\",\"version\":1,\"n_layer\":5,\"parts\":[{\"file\":\"../x\",\"role\":\"begin\","
        "\"size\":1}]}",
        "{\"format\":\"hearth-split\",\"version\":1,\"n_layer\":5,\"parts\":[{\"file\":\"a\",\"role\":\"layers\","
        "\"layer_begin\":0,\"layer_end\":3,\"size\":1}]}",
        "{\"format\":\"hearth-split\",\"version\":1,\"n_layer\":\"five\",\"parts\":[]}"}) {
    std::ofstream(manifest) << bad;
    e = error_of([&] { pipeline::read_manifest(dir); });
    EXPECT_NE(e.find("manifest.json"), std::string::npos) << bad << ": " << e;
  }
  fs::remove(manifest);
  EXPECT_NE(error_of([&] { pipeline::read_manifest(dir); }).find("cannot open the split manifest"), std::string::npos);
}

}  // namespace
}  // namespace hearth

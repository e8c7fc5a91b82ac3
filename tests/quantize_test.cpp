// hearth quantize: llama-quantize's mixes and bytes (checked against llama.cpp's own quantizations
// of stories260K), the rules on a 32-layer shape, loading the result, and clean failures.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <limits>
#include <map>

#include "gguf/gguf.h"
#include "gguf/gguf_writer.h"
#include "hearth/model.h"
#include "hearth/quantize.h"
#include "hearth/session.h"
#include "quant/mix.h"
#include "quant/quant.h"
#include "quant/quantize_model.h"
#include "greedy_util.h"
#include "test_util.h"

namespace hearth {
namespace {

namespace fs = std::filesystem;
using test::fixture;

std::string tmp_dir() {
  std::string d = std::string(HEARTH_TEST_TMP) + "/quantize";
  fs::create_directories(d);
  return d;
}

std::string stories() { return fixture("stories260K/stories260K.gguf"); }
std::string llama_quantized(const std::string& type) {
  return fixture("stories260K/quantized-by-llama.cpp-c392e50/stories260K-" + type + ".gguf");
}

QuantizeParams params(const std::string& type, int threads = 2) {
  QuantizeParams p;
  p.type = type;
  p.n_threads = threads;
  return p;
}

std::map<std::string, DType> tensor_types(const GgufFile& f) {
  std::map<std::string, DType> m;
  for (const GgufTensor& t : f.tensors()) m[std::string(t.name)] = t.type;
  return m;
}

std::string message(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

std::vector<int> greedy_from_bos(const std::string& path, int n) { return test::greedy_from_bos_cpu(path, n); }

// ---------------------------------------------------------------------------------------------
// Against llama.cpp's own quantizations of stories260K

TEST(Quantize, MatchesLlamaQuantizeOnStories260K) {
  HEARTH_REQUIRE_FIXTURE(stories());
  for (std::string type : {"F16", "Q4_K_M", "Q6_K"}) {
    SCOPED_TRACE(type);
    std::string ref = llama_quantized(type);
    HEARTH_REQUIRE_FIXTURE(ref);
    std::string out = tmp_dir() + "/stories-" + type + ".gguf";
    QuantizeResult r = quantize_model(stories(), out, params(type));
    EXPECT_TRUE(r.notes.empty());
    auto ours = GgufFile::open(out);
    auto theirs = GgufFile::open(ref);
    EXPECT_EQ(tensor_types(*ours), tensor_types(*theirs));
    EXPECT_EQ(ours->require_uint("general.file_type"), theirs->require_uint("general.file_type"));
    EXPECT_EQ(ours->require_uint("general.quantization_version"), 2u);
    ASSERT_EQ(ours->tensors().size(), theirs->tensors().size());
    for (size_t i = 0; i < theirs->tensors().size(); ++i) {
      const GgufTensor& t = theirs->tensors()[i];
      const GgufTensor& o = ours->tensors()[i];
      ASSERT_EQ(o.name, t.name) << "tensor order differs at " << i;
      EXPECT_EQ(o.shape_str(), t.shape_str()) << t.name;
      ASSERT_EQ(o.nbytes, t.nbytes) << t.name;
      EXPECT_EQ(std::memcmp(o.data, t.data, t.nbytes), 0) << t.name << ": bytes differ";
    }
    // Same metadata order, tensor order and padding: the whole file is llama-quantize's.
    EXPECT_TRUE(test::read_text(out) == test::read_text(ref)) << "files differ";
  }
}

TEST(Quantize, ResultLoadsAndGeneratesInHearth) {
  HEARTH_REQUIRE_FIXTURE(stories());
  auto expected = test::read_ids(fixture("stories260K/expected/run_t0_n200.generated_ids.txt"));
  ASSERT_EQ(expected.size(), 200u);
  // F16 keeps the F32 model's greedy output exactly (as llama.cpp's F16 file does).
  std::string f16 = tmp_dir() + "/gen-f16.gguf";
  quantize_model(stories(), f16, params("f16"));
  EXPECT_EQ(greedy_from_bos(f16, 200), expected);
  // The quantized mixes follow the F32 reference for a while, then drift (as llama.cpp's do).
  for (std::string type : {"q8_0", "q6_k", "q4_k_m", "q4_0", "q2_k"}) {
    SCOPED_TRACE(type);
    std::string out = tmp_dir() + "/gen-" + type + ".gguf";
    quantize_model(stories(), out, params(type));
    std::vector<int> ids = greedy_from_bos(out, 40);
    size_t same = 0;
    while (same < ids.size() && ids[same] == expected[same]) ++same;
    EXPECT_GE(same, 20u);
  }
}

// Where llama-quantize stops (Q4_0, Q8_0: 172-wide ffn_down rows fit no 32-block) or falls back to
// IQ4_NL (Q2_K, Q3_K on 64-wide rows), hearth uses F16 and Q4_0 and says so; --strict fails instead.
TEST(Quantize, SubstitutesWhereLlamaQuantizeHasNoType) {
  HEARTH_REQUIRE_FIXTURE(stories());
  std::string out = tmp_dir() + "/subst.gguf";
  QuantizeResult r = quantize_model(stories(), out, params("q4_0"));
  auto f = GgufFile::open(out);
  for (const auto& [name, type] : tensor_types(*f)) {
    SCOPED_TRACE(name);
    if (name.find("norm") != std::string::npos) EXPECT_EQ(type, DType::F32);
    else if (name.find("ffn_down") != std::string::npos) EXPECT_EQ(type, DType::F16);
    else if (name == "output.weight") EXPECT_EQ(type, DType::Q8_0);  // Q6_K does not fit 64: Q8_0
    else EXPECT_EQ(type, DType::Q4_0);
  }
  EXPECT_EQ(r.notes.size(), 5u);
  EXPECT_NE(r.notes[0].find("llama-quantize stops"), std::string::npos) << r.notes[0];

  r = quantize_model(stories(), out, params("q2_k"));
  f = GgufFile::open(out);
  EXPECT_EQ(f->require_uint("general.file_type"), 10u);
  auto types = tensor_types(*f);
  EXPECT_EQ(types["output.weight"], DType::Q8_0);
  EXPECT_EQ(types["token_embd.weight"], DType::Q4_0);   // llama.cpp: IQ4_NL
  EXPECT_EQ(types["blk.0.attn_v.weight"], DType::Q4_0);
  EXPECT_EQ(types["blk.0.ffn_down.weight"], DType::F16);  // as llama.cpp: Q3_K -> IQ4_NL -> F16 (172)
  EXPECT_NE(r.notes[0].find("iq4_nl"), std::string::npos) << r.notes[0];

  fs::remove(out);
  QuantizeParams strict = params("q4_0");
  strict.substitute_fallbacks = false;
  EXPECT_NE(message([&] { quantize_model(stories(), out, strict); }).find("not a multiple of the q4_0 block size 32"),
            std::string::npos);
  strict.type = "q2_k";
  EXPECT_NE(message([&] { quantize_model(stories(), out, strict); }).find("iq4_nl"), std::string::npos);
  EXPECT_FALSE(fs::exists(out));
  EXPECT_FALSE(fs::exists(out + ".tmp"));
}

TEST(Quantize, OverridesAndRequantize) {
  HEARTH_REQUIRE_FIXTURE(stories());
  std::string q8 = tmp_dir() + "/ov-q8.gguf";
  QuantizeParams p = params("q6_k");
  p.output_tensor_type = "f16";
  p.token_embedding_type = "q4_1";
  quantize_model(stories(), q8, p);
  auto types = tensor_types(*GgufFile::open(q8));
  EXPECT_EQ(types["output.weight"], DType::F16);
  EXPECT_EQ(types["token_embd.weight"], DType::Q4_1);
  p.output_tensor_type = "q4_k";  // 64-wide rows
  EXPECT_NE(message([&] { quantize_model(stories(), q8, p); }).find("not a multiple of its block size 256"),
            std::string::npos);
  p.output_tensor_type = "iq2_xs";
  EXPECT_NE(message([&] { quantize_model(stories(), q8, p); }).find("cannot write"), std::string::npos);

  // A quantized input needs --allow-requantize; tensors already of the wanted type are copied.
  std::string in = llama_quantized("Q6_K");
  HEARTH_REQUIRE_FIXTURE(in);
  std::string out = tmp_dir() + "/requant.gguf";
  fs::remove(out);
  EXPECT_NE(message([&] { quantize_model(in, out, params("q4_0")); }).find("--allow-requantize"), std::string::npos);
  EXPECT_FALSE(fs::exists(out));
  QuantizeParams rq = params("q4_0");
  rq.allow_requantize = true;
  QuantizeResult r = quantize_model(in, out, rq);
  types = tensor_types(*GgufFile::open(out));
  EXPECT_EQ(types["blk.0.attn_q.weight"], DType::Q4_0);
  EXPECT_EQ(types["output.weight"], DType::Q8_0);  // already Q8_0: copied
  // Requantizing Q8_0 rows to Q4_0 gives the bytes of quantizing their dequantized values.
  auto src = GgufFile::open(in);
  auto dst = GgufFile::open(out);
  const GgufTensor* a = src->find_tensor("blk.0.attn_q.weight");
  const GgufTensor* b = dst->find_tensor("blk.0.attn_q.weight");
  std::vector<float> x(static_cast<size_t>(a->n_elements()));
  dequantize_row_ref(a->type, a->data, x.data(), a->n_elements());
  std::vector<uint8_t> q(b->nbytes);
  quantize_row_ref(DType::Q4_0, x.data(), q.data(), a->n_elements());
  EXPECT_EQ(std::memcmp(q.data(), b->data, b->nbytes), 0);
  const QuantizeTensor* out_t = nullptr;
  for (const QuantizeTensor& t : r.tensors)
    if (t.name == "output.weight") out_t = &t;
  ASSERT_TRUE(out_t);
  EXPECT_FALSE(out_t->converted);
}

// ---------------------------------------------------------------------------------------------
// Bad input: one clear error, nothing left at OUT

TEST(Quantize, TruncatedInputFailsAndLeavesNoOutput) {
  HEARTH_REQUIRE_FIXTURE(stories());
  std::string whole = test::read_text(stories());
  std::string out = tmp_dir() + "/truncated-out.gguf";
  for (size_t keep : {size_t{0}, size_t{10}, size_t{5000}, whole.size() / 2, whole.size() - 1}) {
    SCOPED_TRACE(keep);
    std::string in = tmp_dir() + "/truncated.gguf";
    {
      std::ofstream f(in, std::ios::binary | std::ios::trunc);
      f.write(whole.data(), static_cast<std::streamsize>(keep));
    }
    fs::remove(out);
    EXPECT_THROW(quantize_model(in, out, params("q4_k_m")), Error);
    EXPECT_FALSE(fs::exists(out));
    EXPECT_FALSE(fs::exists(out + ".tmp"));
  }
  // A failure does not touch an existing OUT either.
  {
    std::ofstream f(out, std::ios::binary);
    f << "old";
  }
  EXPECT_THROW(quantize_model(tmp_dir() + "/truncated.gguf", out, params("q4_k_m")), Error);
  EXPECT_EQ(test::read_text(out), "old");
}

// Small hand-made models: 2 blocks of [64, 32] weights, with one thing wrong each.
std::vector<uint8_t> tiny_model(const std::function<void(GgufWriter&)>& edit) {
  GgufWriter w;
  w.set_string("general.architecture", "llama");
  w.set_u32("llama.block_count", 2);
  w.set_u32("llama.attention.head_count", 4);
  std::vector<float> v(64 * 32, 0.25f);
  std::vector<uint8_t> bytes(v.size() * 4);
  std::memcpy(bytes.data(), v.data(), bytes.size());
  for (int l = 0; l < 2; ++l)
    for (const char* n : {"attn_q", "ffn_up"})
      w.add_tensor("blk." + std::to_string(l) + "." + n + ".weight", DType::F32, {64, 32}, bytes);
  edit(w);
  return w.write_to_memory();
}

std::string write_model(const std::string& name, const std::vector<uint8_t>& bytes) {
  std::string path = tmp_dir() + "/" + name;
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  return path;
}

TEST(Quantize, BadModelsFailClearly) {
  std::string out = tmp_dir() + "/bad-out.gguf";
  fs::remove(out);
  auto expect_error = [&](const std::string& in, const std::string& type, const std::string& part) {
    std::string msg = message([&] { quantize_model(in, out, params(type)); });
    EXPECT_NE(msg.find(part), std::string::npos) << msg;
    EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
    EXPECT_FALSE(fs::exists(out));
    EXPECT_FALSE(fs::exists(out + ".tmp"));
  };
  std::string ok = write_model("ok.gguf", tiny_model([](GgufWriter&) {}));
  EXPECT_NO_THROW(quantize_model(ok, out, params("q8_0")));
  fs::remove(out);

  expect_error(ok, "q4_z", "unknown type 'q4_z' (supported: f32, f16, bf16, q8_0, q4_0, q4_1, q5_0, q5_1, q2_k");
  expect_error(ok, "iq2_xs", "not supported");
  expect_error(ok, "19", "(iq2_xxs) is not supported");
  expect_error(write_model("no-arch.gguf", tiny_model([](GgufWriter& w) { w.remove_key("general.architecture"); })),
               "q8_0", "general.architecture");
  expect_error(write_model("no-blocks.gguf", tiny_model([](GgufWriter& w) { w.remove_key("llama.block_count"); })),
               "q8_0", "llama.block_count");
  expect_error(write_model("split.gguf", tiny_model([](GgufWriter& w) { w.set_u16("split.count", 3); })), "q8_0",
               "split");
  expect_error(write_model("i32.gguf", tiny_model([](GgufWriter& w) {
                 w.add_tensor("blk.0.ffn_down.weight", DType::I32, {64, 32}, std::vector<uint8_t>(64 * 32 * 4));
               })),
               "q8_0", "blk.0.ffn_down.weight: cannot convert from type i32");
  expect_error(write_model("nan.gguf", tiny_model([](GgufWriter& w) {
                 std::vector<float> v(64 * 32, 0.5f);
                 v[64 * 7 + 3] = std::numeric_limits<float>::quiet_NaN();
                 std::vector<uint8_t> b(v.size() * 4);
                 std::memcpy(b.data(), v.data(), b.size());
                 w.add_tensor("blk.1.ffn_down.weight", DType::F32, {64, 32}, b);
               })),
               "q8_0", "blk.1.ffn_down.weight: row 7 holds a NaN");
  expect_error(ok, "q2_k_s", "importance matrix");
}

TEST(Quantize, ThreadCountDoesNotChangeTheBytes) {
  // One [256, 1024] matrix: large enough to be split over threads.
  GgufWriter w;
  w.set_string("general.architecture", "llama");
  w.set_u32("llama.block_count", 1);
  std::vector<float> v(256 * 1024);
  for (size_t i = 0; i < v.size(); ++i) v[i] = std::sin(0.37f * static_cast<float>(i)) * 0.1f;
  w.add_tensor_view("blk.0.ffn_up.weight", DType::F32, {256, 1024}, v.data(), v.size() * 4);
  std::string in = tmp_dir() + "/threads.gguf";
  w.write(in);
  for (std::string type : {"q4_k_m", "q8_0"}) {
    std::string a = tmp_dir() + "/threads-1.gguf", b = tmp_dir() + "/threads-5.gguf";
    quantize_model(in, a, params(type, 1));
    quantize_model(in, b, params(type, 5));
    EXPECT_TRUE(test::read_text(a) == test::read_text(b)) << type;
    // The bytes of the reference quantizer over the whole matrix.
    auto f = GgufFile::open(a);
    const GgufTensor& t = f->tensors()[0];
    std::vector<uint8_t> q(row_bytes(t.type, 256) * 1024);
    quantize_row_ref(t.type, v.data(), q.data(), static_cast<int64_t>(v.size()));
    ASSERT_EQ(t.nbytes, q.size());
    EXPECT_EQ(std::memcmp(t.data, q.data(), q.size()), 0) << type;
  }
}

TEST(Quantize, ProgressCoversEveryTensorInOrder) {
  HEARTH_REQUIRE_FIXTURE(stories());
  std::vector<std::string> seen;
  size_t count = 0;
  QuantizeResult r = quantize_model(stories(), tmp_dir() + "/progress.gguf", params("q6_k"),
                                    [&](const QuantizeProgress& p) {
                                      EXPECT_EQ(p.index, seen.size() + 1);
                                      count = p.count;
                                      seen.push_back(p.tensor->name);
                                    });
  EXPECT_EQ(seen.size(), 48u);
  EXPECT_EQ(count, 48u);
  EXPECT_EQ(seen[0], "output.weight");  // llama-quantize's order: outside blocks first, by name
  EXPECT_EQ(seen[3], "blk.0.attn_k.weight");
  EXPECT_EQ(r.n_converted, 37u);
  EXPECT_EQ(r.bytes_in, 1171200u);  // the F32 tensors: 292800 weights
  EXPECT_EQ(r.n_weights, 292800u);
}

// ---------------------------------------------------------------------------------------------
// The mix rules, on a 32-layer Llama-2-7B-like shape

ModelFacts llama_32(int64_t n_head_kv) {
  ModelFacts m;
  m.n_layer = 32;
  m.n_head = 32;
  m.n_head_kv = n_head_kv;
  return m;
}

DType type_of(const std::string& ft, const ModelFacts& m, const std::string& name, int64_t layer,
              std::vector<int64_t> dims = {4096, 4096}) {
  return tensor_type(file_type_from_name(ft), m, name, layer, dims).type;
}

TEST(QuantizeMix, UseMoreBitsLayersOf32) {
  std::vector<int64_t> more;
  for (int64_t i = 0; i < 32; ++i)
    if (use_more_bits(i, 32)) more.push_back(i);
  // i < 32/8, i >= 7*32/8, and (i - 4) % 3 == 2.
  EXPECT_EQ(more, (std::vector<int64_t>{0, 1, 2, 3, 6, 9, 12, 15, 18, 21, 24, 27, 28, 29, 30, 31}));
}

TEST(QuantizeMix, Q4KMGivesQ6KToAttnVAndFfnDownOnUseMoreBitsLayers) {
  ModelFacts m = llama_32(32);
  for (int64_t l = 0; l < 32; ++l) {
    SCOPED_TRACE(l);
    DType more = use_more_bits(l, 32) ? DType::Q6_K : DType::Q4_K;
    EXPECT_EQ(type_of("q4_k_m", m, "blk." + std::to_string(l) + ".attn_v.weight", l), more);
    EXPECT_EQ(type_of("q4_k_m", m, "blk." + std::to_string(l) + ".ffn_down.weight", l, {11008, 4096}), more);
    EXPECT_EQ(type_of("q4_k_m", m, "blk." + std::to_string(l) + ".attn_q.weight", l), DType::Q4_K);
    EXPECT_EQ(type_of("q4_k_m", m, "blk." + std::to_string(l) + ".ffn_up.weight", l), DType::Q4_K);
    EXPECT_EQ(type_of("q5_k_m", m, "blk." + std::to_string(l) + ".attn_v.weight", l),
              use_more_bits(l, 32) ? DType::Q6_K : DType::Q5_K);
  }
  EXPECT_EQ(type_of("q4_k_m", m, "output.weight", -1, {4096, 32000}), DType::Q6_K);
  EXPECT_EQ(type_of("q4_k_m", m, "token_embd.weight", -1, {4096, 32000}), DType::Q4_K);
  m.has_output = false;  // tied embeddings are typed as the output matrix
  EXPECT_EQ(type_of("q4_k_m", m, "token_embd.weight", -1, {4096, 32000}), DType::Q6_K);
}

TEST(QuantizeMix, OtherMixes) {
  ModelFacts mha = llama_32(32), gqa = llama_32(4);
  // Q2_K: attn_v Q4_K with GQA >= 4, else Q3_K; ffn_down and attn_output Q3_K.
  EXPECT_EQ(type_of("q2_k", gqa, "blk.5.attn_v.weight", 5, {4096, 1024}), DType::Q4_K);
  EXPECT_EQ(type_of("q2_k", mha, "blk.5.attn_v.weight", 5), DType::Q3_K);
  EXPECT_EQ(type_of("q2_k", mha, "blk.5.ffn_down.weight", 5, {11008, 4096}), DType::Q3_K);
  EXPECT_EQ(type_of("q2_k", mha, "blk.5.attn_output.weight", 5), DType::Q3_K);
  EXPECT_EQ(type_of("q2_k", mha, "blk.5.attn_q.weight", 5), DType::Q2_K);
  EXPECT_EQ(type_of("q2_k", mha, "output.weight", -1, {4096, 32000}), DType::Q6_K);
  // Q3_K_S: the base type everywhere but the output.
  EXPECT_EQ(type_of("q3_k_s", mha, "blk.0.attn_v.weight", 0), DType::Q3_K);
  EXPECT_EQ(type_of("q3_k_s", mha, "blk.0.ffn_down.weight", 0, {11008, 4096}), DType::Q3_K);
  // Q3_K_M: attn_v Q5_K for the first two, then Q4_K; ffn_down Q5_K below n/16, then Q4_K.
  EXPECT_EQ(type_of("q3_k_m", mha, "blk.1.attn_v.weight", 1), DType::Q5_K);
  EXPECT_EQ(type_of("q3_k_m", mha, "blk.2.attn_v.weight", 2), DType::Q4_K);
  EXPECT_EQ(type_of("q3_k_m", mha, "blk.1.ffn_down.weight", 1, {11008, 4096}), DType::Q5_K);
  EXPECT_EQ(type_of("q3_k_m", mha, "blk.2.ffn_down.weight", 2, {11008, 4096}), DType::Q4_K);
  EXPECT_EQ(type_of("q3_k_m", mha, "blk.2.attn_output.weight", 2), DType::Q4_K);
  // Q3_K_L: Q5_K for attn_v, ffn_down, attn_output.
  EXPECT_EQ(type_of("q3_k_l", mha, "blk.9.attn_v.weight", 9), DType::Q5_K);
  EXPECT_EQ(type_of("q3_k_l", mha, "blk.9.ffn_down.weight", 9, {11008, 4096}), DType::Q5_K);
  EXPECT_EQ(type_of("q3_k_l", mha, "blk.9.attn_output.weight", 9), DType::Q5_K);
  // Q4_K_S: Q5_K for attn_v of the first 4 layers and ffn_down below n/8.
  EXPECT_EQ(type_of("q4_k_s", mha, "blk.3.attn_v.weight", 3), DType::Q5_K);
  EXPECT_EQ(type_of("q4_k_s", mha, "blk.4.attn_v.weight", 4), DType::Q4_K);
  EXPECT_EQ(type_of("q4_k_s", mha, "blk.3.ffn_down.weight", 3, {11008, 4096}), DType::Q5_K);
  EXPECT_EQ(type_of("q4_k_s", mha, "blk.4.ffn_down.weight", 4, {11008, 4096}), DType::Q4_K);
  // Q5_K_S, Q6_K and the 32-block types: the base type, and Q6_K (Q8_0 for Q8_0) for the output.
  EXPECT_EQ(type_of("q5_k_s", mha, "blk.0.attn_v.weight", 0), DType::Q5_K);
  EXPECT_EQ(type_of("q6_k", mha, "blk.0.ffn_down.weight", 0, {11008, 4096}), DType::Q6_K);
  EXPECT_EQ(type_of("q4_0", mha, "blk.0.attn_v.weight", 0), DType::Q4_0);
  EXPECT_EQ(type_of("q4_0", mha, "output.weight", -1, {4096, 32000}), DType::Q6_K);
  EXPECT_EQ(type_of("q5_1", mha, "token_embd.weight", -1, {4096, 32000}), DType::Q5_1);
  EXPECT_EQ(type_of("q8_0", mha, "output.weight", -1, {4096, 32000}), DType::Q8_0);
  EXPECT_EQ(type_of("f16", mha, "output.weight", -1, {4096, 32000}), DType::F16);
  EXPECT_EQ(type_of("bf16", mha, "blk.0.attn_v.weight", 0), DType::BF16);
}

TEST(QuantizeMix, ModelSpecificRules) {
  // 70B (80 layers with GQA): attn_v at least Q5_K; LLaMA-65B (80 layers, no GQA) is not 70B.
  ModelFacts l70 = llama_32(8);
  l70.n_layer = 80;
  EXPECT_TRUE(l70.is_70b());
  EXPECT_EQ(type_of("q4_k_m", l70, "blk.40.attn_v.weight", 40, {8192, 1024}), DType::Q5_K);
  EXPECT_EQ(type_of("q4_k_m", l70, "blk.39.attn_v.weight", 39, {8192, 1024}), DType::Q6_K);  // (39-10)%3 == 2
  ModelFacts l65 = l70;
  l65.n_head_kv = l65.n_head;
  EXPECT_FALSE(l65.is_70b());
  EXPECT_EQ(type_of("q4_k_m", l65, "blk.40.attn_v.weight", 40, {8192, 8192}), DType::Q4_K);
  // Mixtral (8 experts): attn_v and attn_k Q8_0, attn_output Q5_K.
  ModelFacts moe = llama_32(8);
  moe.n_expert = 8;
  EXPECT_EQ(type_of("q4_k_m", moe, "blk.0.attn_v.weight", 0, {4096, 1024}), DType::Q8_0);
  EXPECT_EQ(type_of("q4_k_m", moe, "blk.0.attn_k.weight", 0, {4096, 1024}), DType::Q8_0);
  EXPECT_EQ(type_of("q4_k_m", moe, "blk.0.attn_output.weight", 0), DType::Q5_K);
  EXPECT_EQ(type_of("q4_k_m", moe, "blk.0.ffn_down_exps.weight", 0, {14336, 4096, 8}), DType::Q6_K);
  EXPECT_THROW(type_of("q4_k_m", moe, "blk.40.ffn_down_exps.weight", 40, {14336, 4096, 8}), Error);
  // Falcon: output Q8_0; ffn_down in Q4_K_M: Q6_K below n/16, Q5_K on use_more_bits layers, else Q4_K.
  ModelFacts falcon = llama_32(1);
  falcon.arch = "falcon";
  EXPECT_EQ(type_of("q4_k_m", falcon, "output.weight", -1, {4544, 65024}), DType::Q8_0);
  EXPECT_EQ(type_of("q4_k_m", falcon, "blk.1.ffn_down.weight", 1, {18176, 4544}), DType::Q6_K);
  EXPECT_EQ(type_of("q4_k_m", falcon, "blk.6.ffn_down.weight", 6, {18176, 4544}), DType::Q5_K);
  EXPECT_EQ(type_of("q4_k_m", falcon, "blk.7.ffn_down.weight", 7, {18176, 4544}), DType::Q4_K);
  // attn_qkv (fused models) in the _M mixes.
  EXPECT_EQ(type_of("q4_k_m", llama_32(32), "blk.0.attn_qkv.weight", 0, {4096, 12288}), DType::Q5_K);
  EXPECT_EQ(type_of("q5_k_m", llama_32(32), "blk.0.attn_qkv.weight", 0, {4096, 12288}), DType::Q6_K);
}

TEST(QuantizeMix, FallbacksWhenARowDoesNotFitTheBlock) {
  ModelFacts m = llama_32(32);
  auto choice = [&](const std::string& ft, const std::string& name, int64_t nx, bool substitute) {
    MixOptions o;
    o.substitute = substitute;
    return tensor_type(file_type_from_name(ft), m, name, 0, {nx, 64}, o);
  };
  EXPECT_EQ(choice("q4_k_s", "blk.9.attn_q.weight", 4544, false).type, DType::Q5_0);  // 4544 = 17.75 * 256
  EXPECT_TRUE(choice("q4_k_s", "blk.9.attn_q.weight", 4544, false).fallback);
  EXPECT_EQ(choice("q5_k_s", "blk.9.attn_q.weight", 4544, false).type, DType::Q5_1);
  EXPECT_EQ(choice("q6_k", "blk.9.attn_q.weight", 4544, false).type, DType::Q8_0);
  EXPECT_EQ(choice("q6_k", "blk.9.attn_q.weight", 4550, false).type, DType::F16);  // fits no 32-block either
  EXPECT_EQ(choice("q8_0", "output.weight", 4544, false).type, DType::Q8_0);
  EXPECT_THROW(choice("q2_k", "blk.9.attn_q.weight", 4544, false), Error);  // IQ4_NL
  TypeChoice c = choice("q2_k", "blk.9.attn_q.weight", 4544, true);
  EXPECT_EQ(c.type, DType::Q4_0);
  EXPECT_NE(c.note.find("iq4_nl"), std::string::npos);
  EXPECT_THROW(choice("q4_0", "blk.9.attn_q.weight", 4550, false), Error);
  EXPECT_EQ(choice("q4_0", "blk.9.attn_q.weight", 4550, true).type, DType::F16);
  EXPECT_TRUE(choice("q4_0", "blk.9.attn_q.weight", 4544, false).note.empty());
}

TEST(QuantizeMix, WhichTensorsAreQuantized) {
  EXPECT_TRUE(tensor_is_quantizable("blk.0.attn_q.weight", {64, 64}));
  EXPECT_TRUE(tensor_is_quantizable("blk.0.ffn_down_exps.weight", {64, 64, 8}));
  EXPECT_FALSE(tensor_is_quantizable("blk.0.attn_norm.weight", {64}));
  EXPECT_FALSE(tensor_is_quantizable("blk.0.attn_q_norm.weight", {64, 2}));
  EXPECT_FALSE(tensor_is_quantizable("blk.0.attn_q.weight", {64, 1, 1}));  // 1-D as ggml counts
  EXPECT_FALSE(tensor_is_quantizable("blk.0.attn_q.bias", {64, 64}));
  EXPECT_FALSE(tensor_is_quantizable("blk.0.ffn_gate_inp.weight", {4096, 8}));
  EXPECT_FALSE(tensor_is_quantizable("position_embd.weight", {768, 1024}));
}

TEST(QuantizeMix, PlannerCountsAttnVAndFfnDownInLlamaOrder) {
  // llama.cpp counts attn_v and (in dense models) ffn_down tensors as it meets them, and uses that
  // count, not the block number in the name: blocks numbered from 100 here.
  ModelFacts m = llama_32(32);
  m.n_layer = 8;
  m.n_attention_wv = 8;
  MixPlanner p(file_type_from_name("q4_k_m"), m);
  std::vector<DType> got;
  for (int l = 0; l < 8; ++l) {
    std::string blk = "blk." + std::to_string(100 + l) + ".";
    EXPECT_EQ(p.next(blk + "attn_k.weight", {4096, 4096}).type, DType::Q4_K);
    got.push_back(p.next(blk + "attn_v.weight", {4096, 4096}).type);
    got.push_back(p.next(blk + "ffn_down.weight", {11008, 4096}).type);
  }
  for (int l = 0; l < 8; ++l) {
    DType want = use_more_bits(l, 8) ? DType::Q6_K : DType::Q4_K;
    EXPECT_EQ(got[2 * l], want) << l;
    EXPECT_EQ(got[2 * l + 1], want) << l;
  }
  EXPECT_EQ(tensor_block("blk.12.attn_v.weight"), 12);
  EXPECT_EQ(tensor_block("output.weight"), -1);
  EXPECT_EQ(tensor_block("blk.x.attn_v.weight"), -1);
}

TEST(QuantizeMix, FileTypeNames) {
  EXPECT_EQ(file_type_from_name("Q4_K_M").id, 15u);
  EXPECT_EQ(file_type_from_name("q4_k").name, "q4_k_m");
  EXPECT_EQ(file_type_from_name("Q3_K").name, "q3_k_m");
  EXPECT_EQ(file_type_from_name("q5_k").name, "q5_k_m");
  EXPECT_EQ(file_type_from_name("7").name, "q8_0");
  EXPECT_EQ(file_type_from_name("BF16").id, 32u);
  EXPECT_EQ(file_type_from_name("f32").id, 0u);
  for (const std::string& n : file_type_names()) EXPECT_EQ(file_type_from_name(n).name, n);
  EXPECT_THROW(file_type_from_name("q4_k_x"), Error);
  EXPECT_THROW(file_type_from_name("99"), Error);
  EXPECT_THROW(file_type_from_name(""), Error);
}

// ---------------------------------------------------------------------------------------------
// The CLI

TEST(QuantizeCli, WritesAFileAndReportsErrorsInOneLine) {
  if (!fs::exists(HEARTH_BINARY)) GTEST_SKIP() << "hearth not built: " << HEARTH_BINARY;
  HEARTH_REQUIRE_FIXTURE(stories());
  std::string out = tmp_dir() + "/cli.gguf";
  fs::remove(out);
  auto r = test::run_command(std::string(HEARTH_BINARY) + " quantize -t 2 " + stories() + " " + out +
                             " Q4_K_M 2>/dev/null");
  EXPECT_EQ(r.status, 0) << r.out;
  EXPECT_NE(r.out.find("(q4_k_m): 48 tensors, 37 converted"), std::string::npos) << r.out;
  EXPECT_TRUE(test::read_text(out) == test::read_text(llama_quantized("Q4_K_M")));

  fs::remove(out);
  r = test::run_command(std::string(HEARTH_BINARY) + " quantize " + stories() + " " + out + " q4_k_z 2>&1");
  EXPECT_NE(r.status, 0);
  EXPECT_EQ(r.out.rfind("error: unknown type 'q4_k_z' (supported: ", 0), 0u) << r.out;
  EXPECT_EQ(std::count(r.out.begin(), r.out.end(), '\n'), 1) << r.out;
  r = test::run_command(std::string(HEARTH_BINARY) + " quantize /nonexistent.gguf " + out + " q8_0 2>&1");
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.out.find("/nonexistent.gguf"), std::string::npos) << r.out;
  EXPECT_FALSE(fs::exists(out));
}

}  // namespace
}  // namespace hearth

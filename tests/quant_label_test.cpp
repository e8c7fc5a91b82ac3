// The quantization label of a model (ModelInfo::file_type: `hearth info`, the load lines, bench, `hearth show`,
// /api/tags' quantization_level) is the file type its writer declared (general.file_type), as llama.cpp and
// Ollama name it, not the tensor type holding the most bytes: a small Q4_K_M model keeps much of its weight in
// Q6_K / Q8_0 tensors.
#include <gtest/gtest.h>

#include <filesystem>

#include "gguf/gguf.h"
#include "gguf/gguf_writer.h"
#include "hearth/model.h"
#include "hearth/quantize.h"
#include "serve_test_util.h"

namespace hearth {
namespace {

namespace fs = std::filesystem;

std::string stories() { return test::fixture("stories260K/stories260K.gguf"); }
std::string llama_q4_k_m() {
  return test::fixture("stories260K/quantized-by-llama.cpp-c392e50/stories260K-Q4_K_M.gguf");
}

class QuantLabel : public ::testing::Test {
 protected:
  void SetUp() override {
    HEARTH_REQUIRE_FIXTURE(stories());
    dir_ = fs::path(HEARTH_TEST_TMP) /
           (std::string("quant-label-") + ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  // stories260K (F32) quantized by hearth into dir_/NAME.gguf.
  std::string quantized(const std::string& type, const std::string& name) const {
    const std::string out = (dir_ / (name + ".gguf")).string();
    QuantizeParams p;
    p.type = type;
    p.n_threads = 1;
    quantize_model(stories(), out, p);
    return out;
  }
  fs::path dir_;
};

TEST_F(QuantLabel, FileTypeNamesTheMix) {
  const std::string q4km = quantized("q4_k_m", "q4km");
  EXPECT_EQ(inspect_model(q4km).file_type, "Q4_K_M");
  EXPECT_EQ(inspect_model(quantized("q3_k_s", "q3ks")).file_type, "Q3_K_S");
  EXPECT_EQ(inspect_model(quantized("q8_0", "q8")).file_type, "Q8_0");
  EXPECT_EQ(inspect_model(stories()).file_type, "F32");
  if (fs::exists(llama_q4_k_m())) {  // llama-quantize's own Q4_K_M, whose biggest tensors are Q5_0 and F16
    EXPECT_EQ(inspect_model(llama_q4_k_m()).file_type, "Q4_K_M");
  }
  // The loaded model says the same (run's load line, bench, /api/show).
  LoadParams lp;
  lp.n_threads = 1;
  lp.n_gpu_layers = 0;
  EXPECT_EQ(Model::load(q4km, lp)->info().file_type, "Q4_K_M");
  // And so does `hearth info`.
  auto r = test::run_command(std::string(HEARTH_BINARY) + " info " + q4km + " 2>&1");
  EXPECT_EQ(r.status, 0) << r.out;
  EXPECT_NE(r.out.find("type:           Q4_K_M\n"), std::string::npos) << r.out;
}

TEST_F(QuantLabel, WithoutFileTypeTheDominantTypeNamesIt) {
  const std::string q8 = quantized("q8_0", "q8");
  // The same file without general.file_type (or with an id llama.cpp never wrote).
  for (const int id : {-1, 5, 1000}) {
    auto in = GgufFile::open(q8);
    GgufWriter w;
    for (const auto& [k, v] : in->metadata())
      if (k != "general.file_type" && k != "general.alignment") w.set_value(k, v);
    for (const GgufTensor& t : in->tensors()) {
      std::vector<int64_t> dims(t.ne, t.ne + t.n_dims);
      w.add_tensor_view(t.name, t.type, dims, t.data, t.nbytes);
    }
    if (id >= 0) w.set_u32("general.file_type", static_cast<uint32_t>(id));
    const std::string out = (dir_ / ("q8-" + std::to_string(id) + ".gguf")).string();
    w.write(out);
    EXPECT_EQ(inspect_model(out).file_type, "Q8_0") << id;
  }
}

#ifdef HEARTH_HAVE_HTTP
TEST_F(QuantLabel, TagsQuantizationLevel) {
  quantized("q4_k_m", "tiny-q4km");
  ServerOptions o = test::stories_options(1, 128);
  o.model_path.clear();
  o.alias.clear();
  o.models_dir = dir_.string();
  test::RunningServer s(o);
  auto c = s.client();
  auto r = c.Get("/api/tags");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  const auto tags = test::json::parse(r->body);
  ASSERT_EQ(tags["models"].size(), 1u) << r->body;
  EXPECT_EQ(tags["models"][0]["details"]["quantization_level"], "Q4_K_M") << r->body;
}
#endif

}  // namespace
}  // namespace hearth

// Golden encode/decode vectors (fixtures/tokenizer-vectors): Llama 1/2 SentencePiece on
// ggml-vocab-llama-spm.gguf, Llama 3 BPE on a vocab GGUF generated from the Llama 3 tokenizer.json
// (tests/tools/make-test-vocabs.sh OUT_DIR). The generated Llama 3 and Qwen2 vocabularies also run llama.cpp's
// llama-bpe, qwen2 and deepseek-r1-qwen .inp/.out fixtures, whose GGUF files are too large to ship.
#include <gtest/gtest.h>

#include <cstdlib>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "gguf/gguf.h"
#include "test_util.h"
#include "tokenizer/tokenizer.h"

namespace hearth {
namespace {

using nlohmann::json;
using test::fixture;

json load_vectors(const std::string& name) { return json::parse(test::read_text(fixture("tokenizer-vectors/" + name))); }

std::unique_ptr<Tokenizer> open_tokenizer(const std::string& path, std::unique_ptr<GgufFile>& keep) {
  keep = GgufFile::open(path);
  return Tokenizer::from_gguf(*keep);
}

// A generated vocabulary (ggml-vocab-NAME.gguf) in $HEARTH_TEST_VOCABS, else in the tests' tmp dir.
std::string generated_vocab(const std::string& name) {
  const char* dir = std::getenv("HEARTH_TEST_VOCABS");
  return std::string(dir ? dir : HEARTH_TEST_TMP) + "/ggml-vocab-" + name + ".gguf";
}

#define HEARTH_REQUIRE_GENERATED(path)                                                                      \
  do {                                                                                                      \
    if (!std::filesystem::exists(path))                                                                     \
      GTEST_SKIP() << "vocab not generated (" << (path) << "): run tests/tools/make-test-vocabs.sh " \
                   << HEARTH_TEST_TMP;                                                                      \
  } while (0)

TEST(tokenizer_vectors, Llama2Spm) {
  const std::string vec = "llama-tokenizer-js-1.2.2.llama1-2-spm.vectors.json";
  const std::string vocab = fixture("vocab/ggml-vocab-llama-spm.gguf");
  HEARTH_REQUIRE_FIXTURE(fixture("tokenizer-vectors/" + vec));
  HEARTH_REQUIRE_FIXTURE(vocab);
  std::unique_ptr<GgufFile> file;
  auto tok = open_tokenizer(vocab, file);
  int n_encode = 0, n_decode = 0;
  for (const json& v : load_vectors(vec)) {
    const json& args = v["args"];
    SCOPED_TRACE(v.dump().substr(0, 200));
    if (v["op"] == "encode") {
      // llama-tokenizer-js encode(text, add_bos_token, add_preceding_space, ...): all true here.
      ASSERT_TRUE(args[1].get<bool>() && args[2].get<bool>());
      EXPECT_EQ(tok->encode(args[0].get<std::string>(), true, false), v["result"].get<std::vector<int32_t>>());
      ++n_encode;
    } else if (v["op"] == "decode") {
      // decode(ids, add_bos_token = true, add_preceding_space = true): add_bos_token drops BOS;
      // add_preceding_space removes the space SentencePiece prefixed. Only that (hearth's) form is checked.
      const bool drop_bos = args.size() > 1 ? args[1].get<bool>() : true;
      const bool strip_space = args.size() > 2 ? args[2].get<bool>() : true;
      if (!strip_space) continue;
      EXPECT_EQ(tok->decode(args[0].get<std::vector<int32_t>>(), !drop_bos), v["result"].get<std::string>());
      ++n_decode;
    }
  }
  EXPECT_EQ(n_encode, 12);
  EXPECT_GE(n_decode, 14);
}

TEST(tokenizer_vectors, Llama3Bpe) {
  const std::string vec = "llama3-tokenizer-js-1.2.0.llama3-bpe.vectors.json";
  HEARTH_REQUIRE_FIXTURE(fixture("tokenizer-vectors/" + vec));
  const std::string vocab = generated_vocab("llama3-bpe");
  HEARTH_REQUIRE_GENERATED(vocab);
  std::unique_ptr<GgufFile> file;
  auto tok = open_tokenizer(vocab, file);
  EXPECT_EQ(tok->n_vocab(), 128256);
  EXPECT_EQ(tok->bos(), 128000);
  EXPECT_TRUE(tok->add_bos());
  EXPECT_TRUE(tok->is_eog(tok->find_token("<|eot_id|>")));
  EXPECT_TRUE(tok->is_eog(128001));
  int n = 0;
  for (const json& v : load_vectors(vec)) {
    const json& args = v["args"];
    SCOPED_TRACE(v.dump().substr(0, 200));
    if (v["op"] == "encode") {
      // llama3-tokenizer-js encode(text, {bos, eos}) (null: both) always parses special tokens.
      const bool bos = args[1].is_null() || args[1]["bos"].get<bool>();
      const bool eos = args[1].is_null() || args[1]["eos"].get<bool>();
      std::vector<int32_t> ids = tok->encode(args[0].get<std::string>(), bos, true);
      if (eos) ids.push_back(tok->eos());
      EXPECT_EQ(ids, v["result"].get<std::vector<int32_t>>());
    } else {
      // Its decode renders special tokens.
      EXPECT_EQ(tok->decode(args[0].get<std::vector<int32_t>>(), true), v["result"].get<std::string>());
    }
    ++n;
  }
  EXPECT_EQ(n, 42);
}

// llama.cpp's expectations for vocabularies it does not ship as GGUF, run on the generated files.
struct GeneratedCase {
  const char* vocab;    // generated ggml-vocab-<vocab>.gguf
  const char* fixture;  // fixtures/vocab/ggml-vocab-<fixture>.gguf.inp/.out
};

class GeneratedVocab : public ::testing::TestWithParam<GeneratedCase> {};

TEST_P(GeneratedVocab, EncodesLikeLlamaCppAndRoundTrips) {
  const std::string base = fixture(std::string("vocab/ggml-vocab-") + GetParam().fixture + ".gguf");
  HEARTH_REQUIRE_FIXTURE(base + ".inp");
  HEARTH_REQUIRE_FIXTURE(base + ".out");
  const std::string vocab = generated_vocab(GetParam().vocab);
  HEARTH_REQUIRE_GENERATED(vocab);
  std::unique_ptr<GgufFile> file;
  auto tok = open_tokenizer(vocab, file);
  const std::string text = test::read_text(base + ".inp");
  const std::string sep = "\n__ggml_vocab_test__\n";
  std::istringstream out(test::read_text(base + ".out"));
  size_t pos = 0, count = 0;
  for (size_t next; (next = text.find(sep, pos)) != std::string::npos; pos = next + sep.size(), ++count) {
    const std::string input = text.substr(pos, next - pos);
    std::string line;
    std::getline(out, line);
    std::istringstream ls(line);
    std::vector<int32_t> expected;
    for (int32_t id; ls >> id;) expected.push_back(id);
    SCOPED_TRACE("'" + input + "'");
    const auto ids = tok->encode(input, false, false);
    EXPECT_EQ(ids, expected);
    EXPECT_EQ(tok->decode(ids), input);
  }
  EXPECT_EQ(count, 46u);
}

INSTANTIATE_TEST_SUITE_P(tokenizer, GeneratedVocab,
                         ::testing::Values(GeneratedCase{"llama3-bpe", "llama-bpe"}, GeneratedCase{"qwen2", "qwen2"},
                                           GeneratedCase{"qwen2", "deepseek-r1-qwen"}),
                         [](const auto& info) {
                           std::string n = info.param.fixture;
                           for (char& c : n)
                             if (c == '-') c = '_';
                           return n;
                         });

}  // namespace
}  // namespace hearth

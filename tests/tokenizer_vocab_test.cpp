// Tokenizer against llama.cpp's vocab fixtures (ggml-vocab-*.gguf with .inp/.out, as test-tokenizer-0 reads
// them) and the stories260K model; robustness on bad input.
#include <gtest/gtest.h>

#include <cstring>
#include <sstream>
#include <string>
#include <vector>

#include "gguf/gguf.h"
#include "hearth/error.h"
#include "test_util.h"
#include "tokenizer/tokenizer.h"

namespace hearth {
namespace {

using test::fixture;

// .inp: strings each followed by "\n__ggml_vocab_test__\n"; .out: one line of ids per string.
std::vector<std::string> read_inputs(const std::string& path) {
  const std::string text = test::read_text(path);
  const std::string sep = "\n__ggml_vocab_test__\n";
  std::vector<std::string> out;
  size_t pos = 0;
  for (size_t next; (next = text.find(sep, pos)) != std::string::npos; pos = next + sep.size())
    out.push_back(text.substr(pos, next - pos));
  return out;
}

std::vector<std::vector<int32_t>> read_outputs(const std::string& path) {
  std::istringstream in(test::read_text(path));
  std::vector<std::vector<int32_t>> out;
  for (std::string line; std::getline(in, line);) {
    std::istringstream ls(line);
    std::vector<int32_t> ids;
    for (int32_t id; ls >> id;) ids.push_back(id);
    out.push_back(ids);
  }
  return out;
}

class VocabFixture : public ::testing::TestWithParam<const char*> {};

TEST_P(VocabFixture, EncodesLikeLlamaCppAndRoundTrips) {
  const std::string base = fixture(std::string("vocab/ggml-vocab-") + GetParam() + ".gguf");
  HEARTH_REQUIRE_FIXTURE(base);
  HEARTH_REQUIRE_FIXTURE(base + ".inp");
  HEARTH_REQUIRE_FIXTURE(base + ".out");
  auto file = GgufFile::open(base);
  auto tok = Tokenizer::from_gguf(*file);
  const auto inputs = read_inputs(base + ".inp");
  const auto expected = read_outputs(base + ".out");
  ASSERT_EQ(inputs.size(), 46u);
  ASSERT_EQ(inputs.size(), expected.size());
  for (size_t i = 0; i < inputs.size(); ++i) {
    SCOPED_TRACE("string " + std::to_string(i) + ": '" + inputs[i] + "'");
    const std::vector<int32_t> ids = tok->encode(inputs[i], /*add_bos=*/false, /*parse_special=*/false);
    EXPECT_EQ(ids, expected[i]);
    EXPECT_EQ(tok->decode(ids), inputs[i]);
  }
}

INSTANTIATE_TEST_SUITE_P(tokenizer, VocabFixture,
                         ::testing::Values("llama-spm", "phi-3", "gpt-2", "falcon", "starcoder", "deepseek-llm",
                                           "deepseek-coder", "mpt", "refact"),
                         [](const auto& info) {
                           std::string n = info.param;
                           for (char& c : n)
                             if (c == '-') c = '_';
                           return n;
                         });

TEST(tokenizer_stories, OnceUponATimeWithBos) {
  const std::string path = fixture("stories260K/stories260K.gguf");
  HEARTH_REQUIRE_FIXTURE(path);
  auto file = GgufFile::open(path);
  auto tok = Tokenizer::from_gguf(*file);
  EXPECT_EQ(tok->model(), "llama");
  EXPECT_EQ(tok->n_vocab(), 512);
  EXPECT_EQ(tok->bos(), 1);
  EXPECT_EQ(tok->eos(), 2);
  EXPECT_TRUE(tok->add_bos());
  EXPECT_TRUE(tok->is_eog(2));
  EXPECT_FALSE(tok->is_eog(1));
  const std::vector<int32_t> ids = tok->encode("Once upon a time", true, false);
  EXPECT_EQ(ids, (std::vector<int32_t>{1, 403, 407, 261, 378}));
  EXPECT_EQ(tok->decode(ids), "Once upon a time");
  EXPECT_EQ(tok->token_to_piece(403), " Once");
  EXPECT_EQ(tok->find_token("<s>"), 1);
  EXPECT_EQ(tok->find_token("no such token"), -1);
}

// llama2.c's greedy 200 tokens decode to its printed text; its prompt "Zoo" tokenizes to [410, 469, 347].
TEST(tokenizer_stories, DecodesLlama2cOutput) {
  const std::string path = fixture("stories260K/stories260K.gguf");
  const std::string ids_path = fixture("stories260K/expected/run_t0_n200.generated_ids.txt");
  const std::string text_path = fixture("stories260K/expected/run_t0_n200.stdout.txt");
  HEARTH_REQUIRE_FIXTURE(path);
  HEARTH_REQUIRE_FIXTURE(ids_path);
  HEARTH_REQUIRE_FIXTURE(text_path);
  auto file = GgufFile::open(path);
  auto tok = Tokenizer::from_gguf(*file);
  std::vector<int32_t> ids;
  for (int id : test::read_ids(ids_path)) ids.push_back(id);
  ASSERT_EQ(ids.size(), 200u);
  std::string expected = test::read_text(text_path);
  while (!expected.empty() && expected.back() == '\n') expected.pop_back();
  std::vector<int32_t> with_bos = ids;
  with_bos.insert(with_bos.begin(), tok->bos());
  EXPECT_EQ(tok->decode(with_bos), expected);
  std::string streamed;  // piece by piece, as generation prints it
  for (int32_t id : ids) streamed += tok->token_to_piece(id);
  EXPECT_EQ(streamed, " " + expected);
  EXPECT_EQ(tok->encode("Zoo", true, false), (std::vector<int32_t>{1, 410, 469, 347}));
}

TEST(tokenizer_robust, BadIdsAndInvalidUtf8) {
  for (const char* name : {"vocab/ggml-vocab-llama-spm.gguf", "vocab/ggml-vocab-gpt-2.gguf"}) {
    const std::string path = fixture(name);
    HEARTH_REQUIRE_FIXTURE(path);
    auto file = GgufFile::open(path);
    auto tok = Tokenizer::from_gguf(*file);
    SCOPED_TRACE(name);
    EXPECT_EQ(tok->token_to_piece(-1), "");
    EXPECT_EQ(tok->token_to_piece(tok->n_vocab()), "");
    EXPECT_EQ(tok->decode({-5, tok->n_vocab(), 1 << 30}), "");
    const std::string bad = std::string("a\xff\xfe b\xc3") + "\xe2\x82" + "c\x80";
    std::vector<int32_t> ids;
    ASSERT_NO_THROW(ids = tok->encode(bad, true, true));
    EXPECT_FALSE(ids.empty());
    for (int32_t id : ids) EXPECT_TRUE(id >= 0 && id < tok->n_vocab());
    if (tok->model() == "llama") {
      EXPECT_EQ(tok->decode(ids), bad);  // byte fallback keeps every byte
    }
    EXPECT_TRUE(tok->encode("", false, false).empty());
  }
}

// A minimal GGUF v3 file in memory: string and string-array metadata only.
class GgufBuilder {
 public:
  void str(const std::string& key, const std::string& value) {
    key_(key);
    u32(8);
    s(value);
    ++n_kv_;
  }
  void strings(const std::string& key, const std::vector<std::string>& values) {
    key_(key);
    u32(9);
    u32(8);
    u64(values.size());
    for (const auto& v : values) s(v);
    ++n_kv_;
  }
  std::vector<uint8_t> bytes() const {
    std::vector<uint8_t> out;
    auto put = [&](const void* p, size_t n) { out.insert(out.end(), (const uint8_t*)p, (const uint8_t*)p + n); };
    put("GGUF", 4);
    uint32_t version = 3;
    uint64_t n_tensors = 0;
    put(&version, 4);
    put(&n_tensors, 8);
    put(&n_kv_, 8);
    out.insert(out.end(), body_.begin(), body_.end());
    return out;
  }

 private:
  void u32(uint32_t v) { body_.insert(body_.end(), (uint8_t*)&v, (uint8_t*)&v + 4); }
  void u64(uint64_t v) { body_.insert(body_.end(), (uint8_t*)&v, (uint8_t*)&v + 8); }
  void s(const std::string& v) {
    u64(v.size());
    body_.insert(body_.end(), v.begin(), v.end());
  }
  void key_(const std::string& k) { s(k); }
  std::vector<uint8_t> body_;
  uint64_t n_kv_ = 0;
};

TEST(tokenizer_robust, EmptyOrMissingVocabThrows) {
  {
    GgufBuilder b;
    b.str("tokenizer.ggml.model", "llama");
    b.strings("tokenizer.ggml.tokens", {});
    auto data = b.bytes();
    auto f = GgufFile::parse(data.data(), data.size());
    EXPECT_THROW(Tokenizer::from_gguf(*f), Error);
  }
  {
    GgufBuilder b;
    b.str("general.architecture", "llama");
    auto data = b.bytes();
    auto f = GgufFile::parse(data.data(), data.size());
    EXPECT_THROW(Tokenizer::from_gguf(*f), Error);
  }
  {
    GgufBuilder b;
    b.str("tokenizer.ggml.model", "gpt2");
    b.str("tokenizer.ggml.pre", "no-such-pre");
    b.strings("tokenizer.ggml.tokens", {"a", "b"});
    b.strings("tokenizer.ggml.merges", {"a b"});
    auto data = b.bytes();
    auto f = GgufFile::parse(data.data(), data.size());
    EXPECT_THROW(Tokenizer::from_gguf(*f), Error);
  }
}

TEST(tokenizer_special, ParseSpecialControlsOnlyControlTokens) {
  const std::string path = fixture("vocab/ggml-vocab-llama-spm.gguf");
  HEARTH_REQUIRE_FIXTURE(path);
  auto file = GgufFile::open(path);
  auto tok = Tokenizer::from_gguf(*file);
  // "</s>" is a control token: matched only with parse_special.
  auto with = tok->encode("Hi</s>", false, true);
  ASSERT_FALSE(with.empty());
  EXPECT_EQ(with.back(), 2);
  auto without = tok->encode("Hi</s>", false, false);
  EXPECT_EQ(std::count(without.begin(), without.end(), 2), 0);
  EXPECT_EQ(tok->decode(without), "Hi</s>");
  EXPECT_EQ(tok->decode(with), "Hi");
  EXPECT_EQ(tok->decode(with, true), "Hi</s>");
}

}  // namespace
}  // namespace hearth

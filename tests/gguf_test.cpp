// GGUF writer -> reader round trips, and the reader's validation of malformed files: every bad
// input must give a hearth::Error naming the problem, never a crash.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "gguf/gguf.h"
#include "gguf/gguf_writer.h"
#include "hearth/error.h"
#include "quant/quant.h"
#include "test_util.h"

namespace hearth {
namespace {

namespace fs = std::filesystem;

std::string tmp_dir() {
  std::string d = std::string(HEARTH_TEST_TMP) + "/gguf";
  fs::create_directories(d);
  return d;
}

std::vector<uint8_t> bytes_of(const std::vector<float>& v) {
  std::vector<uint8_t> b(v.size() * 4);
  std::memcpy(b.data(), v.data(), b.size());
  return b;
}

std::vector<float> ramp(size_t n, float scale = 0.01f) {
  std::vector<float> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = scale * static_cast<float>(static_cast<int>(i % 97) - 48);
  return v;
}

std::vector<uint8_t> quantized(DType t, const std::vector<float>& src) {
  std::vector<uint8_t> out(row_bytes(t, static_cast<int64_t>(src.size())));
  quantize_row_ref(t, src.data(), out.data(), static_cast<int64_t>(src.size()));
  return out;
}

// Parses bytes expecting failure; returns the message.
std::string parse_error(const std::vector<uint8_t>& b) {
  try {
    GgufFile::parse(b.data(), b.size(), "bad.gguf");
  } catch (const Error& e) {
    return e.what();
  }
  return "<no error>";
}

#define EXPECT_PARSE_ERROR(bytes, substr)                                   \
  do {                                                                      \
    std::string msg_ = parse_error(bytes);                                  \
    EXPECT_NE(msg_.find(substr), std::string::npos) << "message: " << msg_; \
  } while (0)

// ---------------------------------------------------------------------------------------------
// Round trips

TEST(GgufWriter, RoundTripsEveryMetadataType) {
  GgufWriter w;
  w.set_u8("t.u8", 200);
  w.set_i8("t.i8", -100);
  w.set_u16("t.u16", 60000);
  w.set_i16("t.i16", -30000);
  w.set_u32("t.u32", 4000000000u);
  w.set_i32("t.i32", -2000000000);
  w.set_u64("t.u64", 0xfedcba9876543210ull);
  w.set_i64("t.i64", -(int64_t(1) << 60));
  w.set_f32("t.f32", 1.5f);
  w.set_f64("t.f64", -2.25e100);
  w.set_bool("t.true", true);
  w.set_bool("t.false", false);
  w.set_string("t.str", "héllo\nworld");
  w.set_string("t.empty", "");
  w.set_array_strings("t.arr_str", std::vector<std::string>{"a", "", "<0x0A>", "▁the"});
  w.set_array_i32("t.arr_i32", {1, -2, 3});
  w.set_array_f32("t.arr_f32", {0.5f, -1.0f});
  const uint8_t u8s[] = {1, 2, 255};
  w.set_array("t.arr_u8", GgufType::U8, u8s, 3);
  const int64_t i64s[] = {-1, int64_t(1) << 40};
  w.set_array("t.arr_i64", GgufType::I64, i64s, 2);
  const double f64s[] = {3.25};
  w.set_array("t.arr_f64", GgufType::F64, f64s, 1);
  const uint8_t bools[] = {1, 0};
  w.set_array("t.arr_bool", GgufType::BOOL, bools, 2);
  w.set_array_i32("t.arr_empty", {});

  std::vector<uint8_t> b = w.write_to_memory();
  auto f = GgufFile::parse(b.data(), b.size());
  EXPECT_EQ(f->version(), 3u);
  ASSERT_EQ(f->metadata().size(), 22u);
  EXPECT_EQ(f->metadata()[0].first, "t.u8");  // insertion order
  EXPECT_EQ(f->get_uint("t.u8", 0), 200u);
  EXPECT_EQ(f->find("t.i8")->i, -100);
  EXPECT_EQ(f->get_uint("t.u16", 0), 60000u);
  EXPECT_EQ(f->find("t.i16")->i, -30000);
  EXPECT_EQ(f->get_uint("t.u32", 0), 4000000000u);
  EXPECT_EQ(f->find("t.i32")->i, -2000000000);
  EXPECT_EQ(f->get_uint("t.u64", 0), 0xfedcba9876543210ull);
  EXPECT_EQ(f->find("t.i64")->i, -(int64_t(1) << 60));
  EXPECT_EQ(f->find("t.f32")->type, GgufType::F32);
  EXPECT_EQ(f->get_float("t.f32", 0), 1.5);
  EXPECT_EQ(f->get_float("t.f64", 0), -2.25e100);
  EXPECT_TRUE(f->get_bool("t.true", false));
  EXPECT_FALSE(f->get_bool("t.false", true));
  EXPECT_EQ(f->get_string("t.str"), "héllo\nworld");
  EXPECT_EQ(f->get_string("t.empty", "x"), "");
  const auto& strs = f->get_array_strings("t.arr_str");
  ASSERT_EQ(strs.size(), 4u);
  EXPECT_EQ(strs[1], "");
  EXPECT_EQ(strs[3], "▁the");
  EXPECT_EQ(f->get_array_int("t.arr_i32"), (std::vector<int64_t>{1, -2, 3}));
  EXPECT_EQ(f->get_array_f32("t.arr_f32"), (std::vector<float>{0.5f, -1.0f}));
  EXPECT_EQ(f->get_array_int("t.arr_u8"), (std::vector<int64_t>{1, 2, 255}));
  EXPECT_EQ(f->get_array_int("t.arr_i64"), (std::vector<int64_t>{-1, int64_t(1) << 40}));
  EXPECT_EQ(f->get_array_f32("t.arr_f64"), (std::vector<float>{3.25f}));
  EXPECT_EQ(f->get_array_int("t.arr_bool"), (std::vector<int64_t>{1, 0}));
  EXPECT_TRUE(f->get_array_int("t.arr_empty").empty());
  EXPECT_EQ(f->find("t.arr_empty")->arr_type, GgufType::I32);
  EXPECT_TRUE(f->tensors().empty());

  // set_value copies every value back out unchanged.
  GgufWriter copy;
  for (const auto& [k, v] : f->metadata()) copy.set_value(k, v);
  EXPECT_EQ(copy.write_to_memory(), b);
}

TEST(GgufWriter, ReplacingAKeyKeepsItsPlace) {
  GgufWriter w;
  w.set_u32("a", 1);
  w.set_string("b", "x");
  w.set_string("a", "now a string");
  EXPECT_TRUE(w.has_key("a"));
  std::vector<uint8_t> b = w.write_to_memory();
  auto f = GgufFile::parse(b.data(), b.size());
  ASSERT_EQ(f->metadata().size(), 2u);
  EXPECT_EQ(f->metadata()[0].first, "a");
  EXPECT_EQ(f->get_string("a"), "now a string");
  w.remove_key("a");
  EXPECT_FALSE(w.has_key("a"));
}

TEST(GgufWriter, RoundTripsTensorsOfSeveralTypesAndShapes) {
  for (uint32_t alignment : {32u, 64u, 1u}) {
    SCOPED_TRACE("alignment " + std::to_string(alignment));
    GgufWriter w;
    if (alignment != 32) w.set_alignment(alignment);
    w.set_string("general.architecture", "test");
    std::vector<float> a = ramp(7);
    std::vector<float> c = ramp(64 * 3);
    std::vector<float> d = ramp(256 * 2 * 2 * 1);
    std::vector<uint8_t> bq = quantized(DType::Q8_0, ramp(32 * 5));
    std::vector<uint8_t> dq = quantized(DType::Q4_K, d);
    w.add_tensor("a", DType::F32, {7}, bytes_of(a));
    w.add_tensor("b.q8", DType::Q8_0, {32, 5}, bq);
    w.add_tensor_view("d.q4k", DType::Q4_K, {256, 2, 2, 1}, dq.data(), dq.size());
    w.add_tensor_producer("c.f16", DType::F16, {64, 3}, [&](uint8_t* dst, size_t n) {
      ASSERT_EQ(n, c.size() * 2);
      quantize_row_ref(DType::F16, c.data(), dst, static_cast<int64_t>(c.size()));
    });
    EXPECT_EQ(w.n_tensors(), 4u);

    std::string path = tmp_dir() + "/tensors.gguf";
    w.write(path);
    EXPECT_FALSE(fs::exists(path + ".tmp"));
    auto f = GgufFile::open(path);
    EXPECT_EQ(f->alignment(), alignment);
    EXPECT_EQ(f->data_offset() % alignment, 0u);
    EXPECT_EQ(f->file_size(), w.write_to_memory().size());
    ASSERT_EQ(f->tensors().size(), 4u);
    EXPECT_EQ(f->tensors()[0].name, "a");
    EXPECT_EQ(f->tensors()[3].name, "c.f16");
    for (const GgufTensor& t : f->tensors()) {
      EXPECT_EQ(t.offset % alignment, 0u) << t.name;
      EXPECT_EQ((f->data_offset() + t.offset) % alignment, 0u) << t.name;
    }
    const GgufTensor* ta = f->find_tensor("a");
    ASSERT_TRUE(ta);
    EXPECT_EQ(ta->n_dims, 1);
    EXPECT_EQ(ta->nbytes, 28u);
    EXPECT_EQ(std::memcmp(ta->data, a.data(), 28), 0);
    const GgufTensor* tb = f->find_tensor("b.q8");
    ASSERT_TRUE(tb);
    EXPECT_EQ(tb->type, DType::Q8_0);
    EXPECT_EQ(tb->shape_str(), "[32, 5]");
    ASSERT_EQ(tb->nbytes, bq.size());
    EXPECT_EQ(std::memcmp(tb->data, bq.data(), bq.size()), 0);
    const GgufTensor* td = f->find_tensor("d.q4k");
    ASSERT_TRUE(td);
    EXPECT_EQ(td->n_dims, 4);
    EXPECT_EQ(td->shape_str(), "[256, 2, 2, 1]");
    ASSERT_EQ(td->nbytes, dq.size());
    EXPECT_EQ(std::memcmp(td->data, dq.data(), dq.size()), 0);
    const GgufTensor* tc = f->find_tensor("c.f16");
    ASSERT_TRUE(tc);
    std::vector<float> back(c.size());
    dequantize_row_ref(DType::F16, tc->data, back.data(), static_cast<int64_t>(back.size()));
    for (size_t i = 0; i < c.size(); ++i) EXPECT_NEAR(back[i], c[i], 1e-3f);
  }
}

TEST(GgufWriter, RejectsBadInputWithAnError) {
  GgufWriter w;
  w.add_tensor("x", DType::F32, {4}, std::vector<uint8_t>(16));
  auto msg = [](auto&& fn) -> std::string {
    try {
      fn();
    } catch (const Error& e) {
      return e.what();
    }
    return "<no error>";
  };
  EXPECT_NE(msg([&] { w.add_tensor("x", DType::F32, {4}, std::vector<uint8_t>(16)); }).find("duplicate tensor name x"),
            std::string::npos);
  EXPECT_NE(msg([&] { w.add_tensor("y", DType::F32, {4}, std::vector<uint8_t>(15)); }).find("needs 16"),
            std::string::npos);
  EXPECT_NE(msg([&] { w.add_tensor("y", DType::F32, {1, 2, 3, 4, 5}, {}); }).find("5 dimensions"),
            std::string::npos);
  EXPECT_NE(msg([&] { w.add_tensor("y", DType::F32, {}, {}); }).find("0 dimensions"), std::string::npos);
  EXPECT_NE(msg([&] { w.add_tensor("y", DType::F32, {4, 0}, {}); }).find("dimension 1 = 0"), std::string::npos);
  EXPECT_NE(msg([&] { w.add_tensor("y", DType::Q4_0, {48}, {}); }).find("block size 32"), std::string::npos);
  EXPECT_NE(msg([&] { w.add_tensor("y", static_cast<DType>(99), {4}, {}); }).find("unknown tensor type 99"),
            std::string::npos);
  EXPECT_NE(msg([&] { w.add_tensor("", DType::F32, {4}, std::vector<uint8_t>(16)); }).find("empty tensor name"),
            std::string::npos);
  EXPECT_NE(msg([&] { w.set_alignment(48); }).find("not a power of two"), std::string::npos);
  EXPECT_NE(msg([&] { w.set_string("general.alignment", "x"); }).find("must be a uint32"), std::string::npos);
  EXPECT_NE(msg([&] { w.set_u32("", 1); }).find("empty metadata key"), std::string::npos);
  EXPECT_NE(msg([&] { w.set_array("k", GgufType::STRING, nullptr, 0); }).find("not a plain scalar"),
            std::string::npos);
  EXPECT_NE(msg([&] { w.write("/nonexistent-dir/x.gguf"); }).find("cannot create"), std::string::npos);
  EXPECT_EQ(w.n_tensors(), 1u);  // failed adds leave nothing behind
  EXPECT_EQ(w.alignment(), 32u);
}

TEST(GgufWriter, FailedProducerLeavesNoFile) {
  GgufWriter w;
  w.add_tensor_producer("x", DType::F32, {4}, [](uint8_t*, size_t) { throw Error("producer failed"); });
  std::string path = tmp_dir() + "/failed.gguf";
  fs::remove(path);
  EXPECT_THROW(w.write(path), Error);
  EXPECT_FALSE(fs::exists(path));
  EXPECT_FALSE(fs::exists(path + ".tmp"));
}

// ---------------------------------------------------------------------------------------------
// Malformed files

// A small valid file whose last tensor ends exactly at the end of the file (no trailing padding),
// so that every strict prefix is invalid.
std::vector<uint8_t> small_valid_file() {
  GgufWriter w;
  w.set_string("general.architecture", "llama");
  w.set_u32("llama.block_count", 1);
  w.set_f32("llama.attention.layer_norm_rms_epsilon", 1e-5f);
  w.set_array_strings("tokenizer.ggml.tokens", std::vector<std::string>{"<unk>", "a", "bc"});
  w.set_array_f32("tokenizer.ggml.scores", {0, -1, -2});
  w.add_tensor("w", DType::F32, {8, 2}, bytes_of(ramp(16)));
  w.add_tensor("q", DType::Q8_0, {32}, quantized(DType::Q8_0, ramp(32)));  // 34 bytes, padded
  w.add_tensor("n", DType::F32, {8}, bytes_of(ramp(8)));                   // 32 bytes: ends aligned
  return w.write_to_memory();
}

TEST(GgufReader, EveryTruncationIsAnError) {
  std::vector<uint8_t> b = small_valid_file();
  ASSERT_NO_THROW(GgufFile::parse(b.data(), b.size()));
  for (size_t n = 0; n < b.size(); ++n) {
    std::vector<uint8_t> prefix(b.begin(), b.begin() + n);
    std::string m = parse_error(prefix);
    bool named = m.find("truncated") != std::string::npos || m.find("beyond the end") != std::string::npos ||
                 m.find("past the end") != std::string::npos || m.find("more than the file") != std::string::npos ||
                 m.find("larger than the file") != std::string::npos;
    EXPECT_TRUE(named) << "length " << n << ": " << m;
  }
}

// Builds raw GGUF bytes field by field, for files the writer refuses to make.
struct Raw {
  std::vector<uint8_t> b;
  template <class T>
  Raw& put(T v) {
    size_t at = b.size();
    b.resize(at + sizeof(T));
    std::memcpy(b.data() + at, &v, sizeof(T));
    return *this;
  }
  Raw& str(std::string_view s) {
    put<uint64_t>(s.size());
    b.insert(b.end(), s.begin(), s.end());
    return *this;
  }
  Raw& header(uint64_t n_tensors, uint64_t n_kv, uint32_t version = 3, uint32_t magic = 0x46554747) {
    return put(magic).put(version).put(n_tensors).put(n_kv);
  }
  Raw& tensor(std::string_view name, std::vector<uint64_t> ne, uint32_t type, uint64_t offset) {
    str(name).put<uint32_t>(static_cast<uint32_t>(ne.size()));
    for (uint64_t d : ne) put(d);
    return put(type).put(offset);
  }
  Raw& pad_and_data(size_t data_bytes, size_t alignment = 32) {
    b.resize((b.size() + alignment - 1) / alignment * alignment + data_bytes, 0);
    return *this;
  }
};

TEST(GgufReader, WrongMagic) {
  std::vector<uint8_t> b = small_valid_file();
  b[0] = 'X';
  EXPECT_PARSE_ERROR(b, "bad magic");
  EXPECT_PARSE_ERROR(Raw().header(0, 0, 3, 0x4c4d4747).b, "bad magic");  // "GGML"
}

TEST(GgufReader, UnsupportedVersion) {
  EXPECT_PARSE_ERROR(Raw().header(0, 0, 1).b, "unsupported GGUF version 1");
  EXPECT_PARSE_ERROR(Raw().header(0, 0, 4).b, "unsupported GGUF version 4");
  EXPECT_NO_THROW(GgufFile::parse(Raw().header(0, 0, 2).b.data(), 24));
}

TEST(GgufReader, HugeCounts) {
  EXPECT_PARSE_ERROR(Raw().header(0, ~0ull).b, "metadata count");
  EXPECT_PARSE_ERROR(Raw().header(~0ull, 0).b, "tensor count");
}

TEST(GgufReader, HugeStringLength) {
  EXPECT_PARSE_ERROR(Raw().header(0, 1).put<uint64_t>(~0ull).pad_and_data(64).b, "metadata key has length");
  EXPECT_PARSE_ERROR(Raw().header(0, 1).str("k").put<uint32_t>(8).put<uint64_t>(1ull << 62).b,
                     "string value has length");
  EXPECT_PARSE_ERROR(Raw().header(0, 1).str("k").put<uint32_t>(9).put<uint32_t>(8).put<uint64_t>(1).put<uint64_t>(
                         ~0ull - 3).b,
                     "array string has length");
  EXPECT_PARSE_ERROR(Raw().header(1, 0).put<uint64_t>(1ull << 40).pad_and_data(64).b, "tensor name has length");
}

TEST(GgufReader, HugeArrayCount) {
  for (uint32_t elem : {0u, 6u, 12u, 8u, 9u}) {
    SCOPED_TRACE("element type " + std::to_string(elem));
    EXPECT_PARSE_ERROR(Raw().header(0, 1).str("arr").put<uint32_t>(9).put(elem).put<uint64_t>(~0ull >> 1).b,
                       "array 'arr' has");
  }
}

TEST(GgufReader, UnknownValueAndTensorTypes) {
  EXPECT_PARSE_ERROR(Raw().header(0, 1).str("k").put<uint32_t>(13).put<uint32_t>(0).b, "unknown value type 13");
  EXPECT_PARSE_ERROR(Raw().header(0, 1).str("k").put<uint32_t>(9).put<uint32_t>(77).put<uint64_t>(0).b,
                     "unknown value type 77");
  EXPECT_PARSE_ERROR(Raw().header(1, 0).tensor("t", {4}, 99, 0).pad_and_data(64).b, "unknown tensor type 99");
  EXPECT_PARSE_ERROR(Raw().header(1, 0).tensor("t", {4}, 4, 0).pad_and_data(64).b, "unknown tensor type 4");
}

TEST(GgufReader, BadDimensions) {
  EXPECT_PARSE_ERROR(Raw().header(1, 0).tensor("t", {1, 1, 1, 1, 1}, 0, 0).pad_and_data(64).b,
                     "tensor t: 5 dimensions");
  EXPECT_PARSE_ERROR(Raw().header(1, 0).tensor("t", {}, 0, 0).pad_and_data(64).b, "tensor t: 0 dimensions");
  EXPECT_PARSE_ERROR(Raw().header(1, 0).tensor("t", {4, 0}, 0, 0).pad_and_data(64).b, "dimension 1 = 0");
  EXPECT_PARSE_ERROR(Raw().header(1, 0).tensor("t", {1ull << 31, 1ull << 31, 1ull << 31}, 0, 0).pad_and_data(64).b,
                     "dimension 2");
  EXPECT_PARSE_ERROR(Raw().header(1, 0).tensor("t", {48}, 2, 0).pad_and_data(64).b, "block size 32");
}

TEST(GgufReader, TensorOffsetPastTheEnd) {
  EXPECT_PARSE_ERROR(Raw().header(1, 0).tensor("t", {8}, 0, 32).pad_and_data(48).b, "past the end of the file");
  EXPECT_PARSE_ERROR(Raw().header(1, 0).tensor("t", {8}, 0, 1ull << 60).pad_and_data(32).b, "past the end");
  EXPECT_PARSE_ERROR(Raw().header(1, 0).tensor("t", {8}, 0, ~0ull - 31).pad_and_data(32).b, "past the end");
  EXPECT_NO_THROW(GgufFile::parse(Raw().header(1, 0).tensor("t", {8}, 0, 32).pad_and_data(64).b.data(),
                                  Raw().header(1, 0).tensor("t", {8}, 0, 32).pad_and_data(64).b.size()));
}

TEST(GgufReader, MisalignedOffset) {
  EXPECT_PARSE_ERROR(Raw().header(1, 0).tensor("t", {8}, 0, 4).pad_and_data(64).b, "offset 4 is not aligned");
}

TEST(GgufReader, DuplicateTensorNames) {
  EXPECT_PARSE_ERROR(Raw().header(2, 0).tensor("w", {8}, 0, 0).tensor("w", {8}, 0, 32).pad_and_data(64).b,
                     "duplicate tensor name w");
}

TEST(GgufReader, OverlappingTensorData) {
  // b's 32 bytes (8 F32) start at 32; a's 64 bytes (16 F32) at 0 run into them, whatever the listing order.
  EXPECT_PARSE_ERROR(Raw().header(2, 0).tensor("a", {16}, 0, 0).tensor("b", {8}, 0, 32).pad_and_data(96).b,
                     "tensors a and b overlap");
  EXPECT_PARSE_ERROR(Raw().header(2, 0).tensor("b", {8}, 0, 32).tensor("a", {16}, 0, 0).pad_and_data(96).b,
                     "tensors a and b overlap");
  const auto ok = Raw().header(2, 0).tensor("b", {8}, 0, 32).tensor("a", {8}, 0, 0).pad_and_data(64).b;
  EXPECT_NO_THROW(GgufFile::parse(ok.data(), ok.size()));
}

TEST(GgufReader, OverlongTensorName) {
  EXPECT_PARSE_ERROR(Raw().header(1, 0).tensor(std::string(64, 'n'), {8}, 0, 0).pad_and_data(64).b,
                     "is 64 bytes (at most 63)");
  const auto ok = Raw().header(1, 0).tensor(std::string(63, 'n'), {8}, 0, 0).pad_and_data(64).b;
  EXPECT_NO_THROW(GgufFile::parse(ok.data(), ok.size()));
}

TEST(GgufReader, DuplicateMetadataKeys) {
  Raw r;
  r.header(0, 2).str("k").put<uint32_t>(4).put<uint32_t>(1).str("k").put<uint32_t>(4).put<uint32_t>(2);
  EXPECT_PARSE_ERROR(r.b, "duplicate metadata key 'k'");
}

TEST(GgufReader, BadAlignmentKey) {
  EXPECT_PARSE_ERROR(Raw().header(0, 1).str("general.alignment").put<uint32_t>(4).put<uint32_t>(48).b,
                     "power of two");
  EXPECT_PARSE_ERROR(Raw().header(0, 1).str("general.alignment").put<uint32_t>(4).put<uint32_t>(0).b,
                     "power of two");
  EXPECT_PARSE_ERROR(Raw().header(0, 1).str("general.alignment").put<uint32_t>(8).str("32").b, "power of two");
  // The spec's type is uint32; llama.cpp rejects others.
  EXPECT_PARSE_ERROR(Raw().header(0, 1).str("general.alignment").put<uint32_t>(10).put<uint64_t>(32).b,
                     "uint32 power of two");
}

TEST(GgufReader, DeeplyNestedArrays) {
  Raw r;
  r.header(0, 1).str("k").put<uint32_t>(9);
  for (int d = 0; d < 10; ++d) r.put<uint32_t>(9).put<uint64_t>(1);
  r.put<uint32_t>(0).put<uint64_t>(0);
  EXPECT_PARSE_ERROR(r.b, "nests arrays too deeply");
}

TEST(GgufReader, WrongTypedGettersThrow) {
  std::vector<uint8_t> b = small_valid_file();
  auto f = GgufFile::parse(b.data(), b.size());
  EXPECT_THROW(f->get_uint("general.architecture", 0), Error);
  EXPECT_THROW(f->get_string("llama.block_count"), Error);
  EXPECT_THROW(f->get_array_int("tokenizer.ggml.scores"), Error);
  EXPECT_THROW(f->get_array_strings("tokenizer.ggml.scores"), Error);
  EXPECT_THROW(f->require_uint("missing.key"), Error);
  EXPECT_EQ(f->get_uint("missing.key", 7), 7u);
}

// Random byte corruption of a valid file: every outcome must be a clean parse or a hearth::Error.
TEST(GgufReader, RandomCorruptionNeverCrashes) {
  std::vector<uint8_t> good = small_valid_file();
  std::mt19937 rng(1234);
  int errors = 0;
  for (int iter = 0; iter < 20000; ++iter) {
    std::vector<uint8_t> b = good;
    int flips = 1 + static_cast<int>(rng() % 4);
    for (int k = 0; k < flips; ++k) {
      size_t at = rng() % b.size();
      b[at] = (rng() % 3 == 0) ? 0xff : static_cast<uint8_t>(rng());
    }
    try {
      auto f = GgufFile::parse(b.data(), b.size());
      for (const GgufTensor& t : f->tensors()) ASSERT_LE(t.data + t.nbytes, b.data() + b.size());
    } catch (const Error&) {
      ++errors;
    }
  }
  EXPECT_GT(errors, 0);
}

// ---------------------------------------------------------------------------------------------
// A real model

TEST(GgufReader, Stories260K) {
  std::string path = test::fixture("stories260K/stories260K.gguf");
  HEARTH_REQUIRE_FIXTURE(path);
  auto f = GgufFile::open(path);
  EXPECT_EQ(f->version(), 3u);
  EXPECT_EQ(f->require_string("general.architecture"), "llama");
  EXPECT_EQ(f->require_uint("llama.embedding_length"), 64u);
  EXPECT_EQ(f->require_uint("llama.block_count"), 5u);
  EXPECT_EQ(f->require_uint("llama.attention.head_count"), 8u);
  EXPECT_EQ(f->require_uint("llama.attention.head_count_kv"), 4u);
  EXPECT_EQ(f->require_uint("llama.feed_forward_length"), 172u);
  EXPECT_EQ(f->require_uint("llama.context_length"), 2048u);
  EXPECT_NEAR(f->get_float("llama.attention.layer_norm_rms_epsilon", 0), 1e-5, 1e-9);
  EXPECT_EQ(f->get_string("tokenizer.ggml.model"), "llama");
  const auto& tokens = f->get_array_strings("tokenizer.ggml.tokens");
  ASSERT_EQ(tokens.size(), 512u);
  EXPECT_EQ(tokens[0], "<unk>");
  EXPECT_EQ(tokens[1], "<s>");
  EXPECT_EQ(f->get_array_f32("tokenizer.ggml.scores").size(), 512u);
  EXPECT_EQ(f->get_array_int("tokenizer.ggml.token_type").size(), 512u);
  EXPECT_EQ(f->get_uint("tokenizer.ggml.bos_token_id", 0), 1u);
  EXPECT_EQ(f->get_uint("tokenizer.ggml.eos_token_id", 0), 2u);

  ASSERT_EQ(f->tensors().size(), 3u + 5u * 9u);
  EXPECT_EQ(f->tensors()[0].name, "token_embd.weight");
  auto shape = [&](const std::string& name) {
    const GgufTensor* t = f->find_tensor(name);
    EXPECT_TRUE(t) << name;
    if (t) {
      EXPECT_EQ(t->type, DType::F32) << name;
    }
    return t ? t->shape_str() : std::string("missing");
  };
  EXPECT_EQ(shape("token_embd.weight"), "[64, 512]");
  EXPECT_EQ(shape("output.weight"), "[64, 512]");
  EXPECT_EQ(shape("output_norm.weight"), "[64]");
  for (int l = 0; l < 5; ++l) {
    std::string p = "blk." + std::to_string(l) + ".";
    EXPECT_EQ(shape(p + "attn_q.weight"), "[64, 64]");
    EXPECT_EQ(shape(p + "attn_k.weight"), "[64, 32]");
    EXPECT_EQ(shape(p + "attn_v.weight"), "[64, 32]");
    EXPECT_EQ(shape(p + "attn_output.weight"), "[64, 64]");
    EXPECT_EQ(shape(p + "attn_norm.weight"), "[64]");
    EXPECT_EQ(shape(p + "ffn_norm.weight"), "[64]");
    EXPECT_EQ(shape(p + "ffn_gate.weight"), "[64, 172]");
    EXPECT_EQ(shape(p + "ffn_up.weight"), "[64, 172]");
    EXPECT_EQ(shape(p + "ffn_down.weight"), "[172, 64]");
  }
  const GgufTensor* norm = f->find_tensor("blk.0.attn_norm.weight");
  ASSERT_TRUE(norm);
  float w0;
  std::memcpy(&w0, norm->data, 4);
  EXPECT_TRUE(std::isfinite(w0));
  EXPECT_EQ(f->data_offset() + norm->offset + norm->nbytes <= f->file_size(), true);
}

// Every GGUF file in the fixtures (written by llama.cpp's tools) passes validation.
TEST(GgufReader, EveryFixtureFileParses) {
  std::string root = test::fixture("");
  HEARTH_REQUIRE_FIXTURE(root);
  int n = 0;
  for (const auto& e : fs::recursive_directory_iterator(root)) {
    if (e.path().extension() != ".gguf") continue;
    EXPECT_NO_THROW(GgufFile::open(e.path().string())) << e.path();
    ++n;
  }
  EXPECT_GT(n, 0);
}

// Copying a llama.cpp-written file through the writer gives the same bytes: the writer lays files
// out exactly as llama.cpp's gguf-py does.
TEST(GgufWriter, CopyOfStories260KIsByteIdentical) {
  std::string path = test::fixture("stories260K/stories260K.gguf");
  HEARTH_REQUIRE_FIXTURE(path);
  auto f = GgufFile::open(path);
  GgufWriter w;
  for (const auto& [k, v] : f->metadata()) w.set_value(k, v);
  for (const GgufTensor& t : f->tensors())
    w.add_tensor_view(t.name, t.type, std::vector<int64_t>(t.ne, t.ne + t.n_dims), t.data, t.nbytes);
  std::string out = tmp_dir() + "/stories-copy.gguf";
  w.write(out);
  auto g = GgufFile::open(out);
  ASSERT_EQ(g->metadata().size(), f->metadata().size());
  ASSERT_EQ(g->tensors().size(), f->tensors().size());
  for (size_t i = 0; i < f->tensors().size(); ++i) {
    EXPECT_EQ(g->tensors()[i].name, f->tensors()[i].name);
    EXPECT_EQ(g->tensors()[i].offset, f->tensors()[i].offset);
    EXPECT_EQ(std::memcmp(g->tensors()[i].data, f->tensors()[i].data, f->tensors()[i].nbytes), 0);
  }
  EXPECT_EQ(test::read_text(out), test::read_text(path));
}

// ---------------------------------------------------------------------------------------------
// hearth-gen (built next to the hearth binary when tools/gen is part of the build)

std::string gen_binary() { return (fs::path(HEARTH_BINARY).parent_path() / "hearth-gen").string(); }

#define REQUIRE_GEN()                                                                          \
  do {                                                                                         \
    if (!fs::exists(gen_binary())) GTEST_SKIP() << "hearth-gen not built: " << gen_binary();   \
  } while (0)

int run_gen(const std::string& args) {
  return test::run_command(gen_binary() + " " + args + " > /dev/null 2>&1").status;
}

std::map<std::string, DType> tensor_types(const GgufFile& f) {
  std::map<std::string, DType> m;
  for (const GgufTensor& t : f.tensors()) m[std::string(t.name)] = t.type;
  return m;
}

TEST(HearthGen, TinyQ4KMIsALlamaFileWithLlamaQuantizeTypes) {
  REQUIRE_GEN();
  std::string path = tmp_dir() + "/gen-tiny-q4km.gguf";
  ASSERT_EQ(run_gen("--shape tiny --type q4_k_m -o " + path), 0);
  auto f = GgufFile::open(path);
  EXPECT_EQ(f->require_string("general.architecture"), "llama");
  EXPECT_EQ(f->require_uint("llama.embedding_length"), 256u);
  EXPECT_EQ(f->require_uint("llama.block_count"), 2u);
  EXPECT_EQ(f->require_uint("llama.attention.head_count"), 8u);
  EXPECT_EQ(f->require_uint("llama.attention.head_count_kv"), 4u);
  EXPECT_EQ(f->require_uint("llama.feed_forward_length"), 768u);
  EXPECT_EQ(f->require_uint("llama.rope.dimension_count"), 32u);
  EXPECT_EQ(f->require_uint("llama.vocab_size"), 512u);
  EXPECT_EQ(f->require_uint("general.file_type"), 15u);  // LLAMA_FTYPE_MOSTLY_Q4_K_M
  EXPECT_EQ(f->get_array_strings("tokenizer.ggml.tokens").size(), 512u);
  EXPECT_EQ(f->tensors().size(), 2u + 2u * 9u + 1u);
  auto types = tensor_types(*f);
  EXPECT_EQ(types["token_embd.weight"], DType::Q4_K);
  EXPECT_EQ(types["output.weight"], DType::Q6_K);
  EXPECT_EQ(types["output_norm.weight"], DType::F32);
  EXPECT_EQ(types["blk.0.attn_norm.weight"], DType::F32);
  EXPECT_EQ(types["blk.0.attn_q.weight"], DType::Q4_K);
  EXPECT_EQ(types["blk.0.attn_v.weight"], DType::Q4_K);
  EXPECT_EQ(types["blk.1.attn_v.weight"], DType::Q6_K);  // use_more_bits: the last eighth of the layers
  EXPECT_EQ(types["blk.1.ffn_down.weight"], DType::Q6_K);
  EXPECT_EQ(f->find_tensor("blk.0.attn_k.weight")->shape_str(), "[256, 128]");
  EXPECT_EQ(f->find_tensor("blk.0.ffn_down.weight")->shape_str(), "[768, 256]");
  EXPECT_EQ(f->find_tensor("token_embd.weight")->shape_str(), "[256, 512]");

  // Weights are random with the requested spread; norms are near 1.
  const GgufTensor* q = f->find_tensor("blk.0.attn_q.weight");
  std::vector<float> w(static_cast<size_t>(q->n_elements()));
  dequantize_row_ref(q->type, q->data, w.data(), q->n_elements());
  double ss = 0;
  for (float x : w) ss += double(x) * x;
  EXPECT_NEAR(std::sqrt(ss / w.size()), 0.02, 0.004);
  const GgufTensor* n = f->find_tensor("blk.0.ffn_norm.weight");
  std::vector<float> nw(256);
  std::memcpy(nw.data(), n->data, 1024);
  for (float x : nw) EXPECT_NEAR(x, 1.0f, 0.5f);
}

TEST(HearthGen, DeterministicForASeedWhateverTheThreadCount) {
  REQUIRE_GEN();
  std::string a = tmp_dir() + "/gen-a.gguf", b = tmp_dir() + "/gen-b.gguf", c = tmp_dir() + "/gen-c.gguf";
  ASSERT_EQ(run_gen("--shape tiny --type q8_0 --seed 7 -t 1 -o " + a), 0);
  ASSERT_EQ(run_gen("--shape tiny --type q8_0 --seed 7 -t 3 -o " + b), 0);
  ASSERT_EQ(run_gen("--shape tiny --type q8_0 --seed 8 -t 1 -o " + c), 0);
  EXPECT_EQ(test::read_text(a), test::read_text(b));
  EXPECT_NE(test::read_text(a), test::read_text(c));
}

TEST(HearthGen, CopiesTheVocabularyFromAGguf) {
  REQUIRE_GEN();
  std::string vocab = test::fixture("vocab/ggml-vocab-llama-spm.gguf");
  HEARTH_REQUIRE_FIXTURE(vocab);
  std::string path = tmp_dir() + "/gen-spm.gguf";
  ASSERT_EQ(run_gen("--shape tiny --n-layer 1 --type f16 --vocab " + vocab + " -o " + path), 0);
  auto f = GgufFile::open(path);
  auto v = GgufFile::open(vocab);
  EXPECT_EQ(f->require_uint("llama.vocab_size"), 32000u);
  EXPECT_EQ(f->find_tensor("token_embd.weight")->shape_str(), "[256, 32000]");
  EXPECT_EQ(f->find_tensor("output.weight")->shape_str(), "[256, 32000]");
  EXPECT_EQ(f->get_array_strings("tokenizer.ggml.tokens"), v->get_array_strings("tokenizer.ggml.tokens"));
  EXPECT_EQ(f->get_array_f32("tokenizer.ggml.scores"), v->get_array_f32("tokenizer.ggml.scores"));
  EXPECT_EQ(f->get_uint("tokenizer.ggml.bos_token_id", 99), 1u);
  EXPECT_EQ(f->get_bool("tokenizer.ggml.add_bos_token", false), true);
}

// llama.cpp quantized stories260K to Q4_K_M and Q6_K itself: hearth-gen at the same shape must
// choose the same type for every tensor (including the fallbacks for its 172-wide ffn_down rows).
TEST(HearthGen, TypeMixesMatchLlamaQuantizeOnStories260K) {
  REQUIRE_GEN();
  for (std::string type : {"Q4_K_M", "Q6_K", "F16"}) {
    SCOPED_TRACE(type);
    std::string ref = test::fixture("stories260K/quantized-by-llama.cpp-c392e50/stories260K-" + type + ".gguf");
    HEARTH_REQUIRE_FIXTURE(ref);
    std::string path = tmp_dir() + "/gen-stories-" + type + ".gguf";
    ASSERT_EQ(run_gen("--shape stories --type " + type + " -o " + path), 0);
    auto ours = GgufFile::open(path);
    auto theirs = GgufFile::open(ref);
    EXPECT_EQ(tensor_types(*ours), tensor_types(*theirs));
    EXPECT_EQ(ours->require_uint("general.file_type"), theirs->require_uint("general.file_type"));
    for (const GgufTensor& t : theirs->tensors()) {
      const GgufTensor* o = ours->find_tensor(t.name);
      ASSERT_TRUE(o) << t.name;
      EXPECT_EQ(o->shape_str(), t.shape_str()) << t.name;
    }
  }
}

TEST(HearthGen, FailsClearlyOnUnsupportedTypes) {
  REQUIRE_GEN();
  auto r = test::run_command(gen_binary() + " --type iq2_xs -o " + tmp_dir() + "/x.gguf 2>&1");
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.out.find("not supported"), std::string::npos) << r.out;
  r = test::run_command(gen_binary() + " --shape stories --type q4_0 -o " + tmp_dir() + "/x.gguf 2>&1");
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.out.find("not a multiple of the q4_0 block size"), std::string::npos) << r.out;
  EXPECT_FALSE(fs::exists(tmp_dir() + "/x.gguf"));
}

}  // namespace
}  // namespace hearth

// Reference quantization: round-trip error per type, dot products against dequantize-then-f32, layouts.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <random>
#include <vector>

#include "hearth/error.h"
#include "quant/blocks.h"
#include "quant/quant.h"
#include "test_util.h"

namespace hearth {
namespace {

using test::random_normal;

std::vector<uint8_t> quantize(DType t, const std::vector<float>& x) {
  std::vector<uint8_t> q(row_bytes(t, static_cast<int64_t>(x.size())));
  quantize_row_ref(t, x.data(), q.data(), static_cast<int64_t>(x.size()));
  return q;
}

std::vector<float> dequantize(DType t, const std::vector<uint8_t>& q, int64_t n) {
  std::vector<float> y(n);
  dequantize_row_ref(t, q.data(), y.data(), n);
  return y;
}

double nmse(const std::vector<float>& a, const std::vector<float>& b) {
  double e = 0, s = 0;
  for (size_t i = 0; i < a.size(); ++i) e += (a[i] - b[i]) * double(a[i] - b[i]), s += double(a[i]) * a[i];
  return e / s;
}

struct TypeBound {
  DType type;
  double max_nmse;  // normalized MSE of a round trip on N(0,1) data (measured values are ~2/3 of these;
                    // llama.cpp's quantizers give the same on such data)
};

const TypeBound kBounds[] = {
    {DType::F32, 0},        {DType::F16, 1e-7},     {DType::BF16, 5e-6},    {DType::Q8_0, 5e-5},
    {DType::Q8_1, 5e-5},    {DType::Q8_K, 7e-5},    {DType::Q6_K, 5e-4},    {DType::Q5_0, 3e-3},
    {DType::Q5_1, 2.5e-3},  {DType::Q5_K, 2e-3},    {DType::Q4_0, 1.2e-2},  {DType::Q4_1, 1e-2},
    {DType::Q4_K, 8e-3},    {DType::Q3_K, 3.5e-2},  {DType::Q2_K, 1.2e-1},
};

class QuantType : public ::testing::TestWithParam<TypeBound> {};

TEST_P(QuantType, RoundTripError) {
  const TypeBound tb = GetParam();
  const int64_t n = 4096;
  auto x = random_normal(n, 1);
  auto y = dequantize(tb.type, quantize(tb.type, x), n);
  double e = nmse(x, y);
  EXPECT_LE(e, tb.max_nmse) << dtype_name(tb.type);
  RecordProperty("nmse", std::to_string(e));
  // A quantizer that is too good to be true is a bug in the test data or the bound.
  if (tb.max_nmse > 0) {
    EXPECT_GT(e, tb.max_nmse / 20) << dtype_name(tb.type);
  }
}

TEST_P(QuantType, ZerosAndConstantsRoundTrip) {
  const TypeBound tb = GetParam();
  const int64_t n = 512;
  std::vector<float> z(n, 0.0f);
  for (float v : dequantize(tb.type, quantize(tb.type, z), n)) EXPECT_EQ(v, 0.0f);
  std::vector<float> c(n, 0.75f);
  for (float v : dequantize(tb.type, quantize(tb.type, c), n)) EXPECT_NEAR(v, 0.75f, 0.02f);
}

TEST_P(QuantType, VecDotMatchesDequantizedDot) {
  const TypeBound tb = GetParam();
  const DType vt = vec_dot_type(tb.type);
  if (tb.type == DType::Q8_1 || tb.type == DType::Q8_K) GTEST_SKIP() << "activation type";
  for (int64_t n : {256, 512, 4096}) {
    auto w = random_normal(n, 2), x = random_normal(n, 3);
    auto wq = quantize(tb.type, w), xq = quantize(vt, x);
    float got = vec_dot_ref(tb.type, n, wq.data(), xq.data());
    // The same product computed from the dequantized values of both operands.
    auto wd = dequantize(tb.type, wq, n);
    std::vector<float> xd(n);
    xd = vt == DType::F32 ? x : dequantize(vt, xq, n);
    double want = 0, mag = 0, exact = 0;
    for (int64_t i = 0; i < n; ++i) want += double(wd[i]) * xd[i], mag += std::fabs(double(wd[i]) * xd[i]), exact += double(w[i]) * x[i];
    EXPECT_NEAR(got, want, 2e-3 * mag / std::sqrt(double(n)) + 1e-4 * mag) << dtype_name(tb.type) << " n=" << n;
    // And close to the unquantized product, within what the weight's quantization error allows.
    EXPECT_NEAR(got, exact, 4 * std::sqrt(tb.max_nmse + 1e-4) * std::sqrt(double(n)) + 1e-3) << dtype_name(tb.type);
  }
}

INSTANTIATE_TEST_SUITE_P(AllTypes, QuantType, ::testing::ValuesIn(kBounds),
                         [](const auto& info) { return std::string(dtype_name(info.param.type)); });

TEST(Quant, SupportedTypes) {
  for (DType t : {DType::F32, DType::F16, DType::BF16, DType::Q4_0, DType::Q4_1, DType::Q5_0, DType::Q5_1, DType::Q8_0,
                  DType::Q2_K, DType::Q3_K, DType::Q4_K, DType::Q5_K, DType::Q6_K})
    EXPECT_TRUE(dtype_supported(t)) << dtype_name(t);
  EXPECT_FALSE(dtype_supported(DType::IQ2_XXS));
}

TEST(Quant, RejectsPartialBlocks) {
  std::vector<float> x(48);
  std::vector<uint8_t> q(64);
  EXPECT_THROW(quantize_row_ref(DType::Q4_0, x.data(), q.data(), 48), Error);
  EXPECT_THROW(dequantize_row_ref(DType::Q4_K, q.data(), x.data(), 48), Error);
}

// Hand-built blocks decoded with the GGUF layout rules (element order, scale packing, high bits).
TEST(QuantLayout, Q4_0ElementOrder) {
  q::BlockQ4_0 b{};
  b.d = f32_to_fp16(0.5f);
  for (int j = 0; j < 16; ++j) b.qs[j] = static_cast<uint8_t>(j | ((15 - j) << 4));
  std::vector<float> y(32);
  dequantize_row_ref(DType::Q4_0, &b, y.data(), 32);
  for (int j = 0; j < 16; ++j) {
    EXPECT_EQ(y[j], 0.5f * (j - 8));
    EXPECT_EQ(y[j + 16], 0.5f * (7 - j));
  }
}

TEST(QuantLayout, Q5_0HighBits) {
  q::BlockQ5_0 b{};
  b.d = f32_to_fp16(1.0f);
  uint32_t qh = 0x80000001u;  // elements 0 and 31
  std::memcpy(b.qh, &qh, 4);
  std::vector<float> y(32);
  dequantize_row_ref(DType::Q5_0, &b, y.data(), 32);
  EXPECT_EQ(y[0], 0.0f);
  EXPECT_EQ(y[31], 0.0f);
  EXPECT_EQ(y[1], -16.0f);
}

TEST(QuantLayout, Q4_KScalesAndMins) {
  q::BlockQ4_K b{};
  b.d = f32_to_fp16(1.0f);
  b.dmin = f32_to_fp16(1.0f);
  // Sub-block 0: scale 3, min 2; sub-block 5: scale 0x25 (low 4 bits in scales[9], high 2 in scales[1] bits 6-7).
  b.scales[0] = 3;
  b.scales[4] = 2;
  b.scales[9] = 0x05;
  b.scales[1] = 2 << 6;
  for (int l = 0; l < 32; ++l) b.qs[l] = 1, b.qs[64 + l] = 0x10;  // sub-block 0 -> 1, sub-block 5 -> 1
  std::vector<float> y(256);
  dequantize_row_ref(DType::Q4_K, &b, y.data(), 256);
  EXPECT_EQ(y[0], 3.0f * 1 - 2.0f);
  EXPECT_EQ(y[5 * 32], 37.0f);
  EXPECT_EQ(y[4 * 32], 0.0f);
}

TEST(QuantLayout, Q6_KElementOrder) {
  q::BlockQ6_K b{};
  b.d = f32_to_fp16(1.0f);
  for (int j = 0; j < 16; ++j) b.scales[j] = 1;
  b.ql[0] = 0x21;   // element 0 low 1, element 64 low 2
  b.qh[0] = 0x24;   // element 32 high bits 1 (bits 2-3), element 64 high bits 2 (bits 4-5)
  std::vector<float> y(256);
  dequantize_row_ref(DType::Q6_K, &b, y.data(), 256);
  EXPECT_EQ(y[0], 1.0f - 32);
  EXPECT_EQ(y[32], 16.0f - 32);
  EXPECT_EQ(y[64], 2.0f + 32 - 32);
  EXPECT_EQ(y[96], -32.0f);
}

}  // namespace
}  // namespace hearth

// Pipeline wire format (no MPI needed): hidden-state encodings against their error bounds, message round trips,
// malformed messages, the candidate logits the last stage returns, and the placement of layers by memory.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>

#include "hearth/error.h"
#include "hearth/sampler.h"
#include "pipeline/logit_candidates.h"
#include "pipeline/rank_plan.h"
#include "pipeline/wire.h"

namespace hearth::pipeline {
namespace {

std::vector<float> random_rows(int rows, int cols, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> d(0.0f, 2.0f);
  std::vector<float> v(static_cast<size_t>(rows) * cols);
  for (float& x : v) x = d(rng);
  v[3] = 0.0f;  // exact zero survives every encoding
  return v;
}

std::vector<float> round_trip(WireType t, const std::vector<float>& x, int rows, int cols) {
  std::vector<uint8_t> bytes(wire_bytes(t, rows, cols));
  wire_encode(t, x.data(), rows, cols, bytes.data());
  std::vector<float> y(x.size());
  wire_decode(t, bytes.data(), rows, cols, y.data());
  return y;
}

TEST(PipelineWire, F32IsExact) {
  const int rows = 3, cols = 70;
  auto x = random_rows(rows, cols, 1);
  EXPECT_EQ(wire_bytes(WireType::F32, rows, cols), size_t(rows * cols * 4));
  EXPECT_EQ(round_trip(WireType::F32, x, rows, cols), x);
}

TEST(PipelineWire, F16WithinHalfAnUlp) {
  const int rows = 3, cols = 70;
  auto x = random_rows(rows, cols, 2);
  EXPECT_EQ(wire_bytes(WireType::F16, rows, cols), size_t(rows * cols * 2));
  auto y = round_trip(WireType::F16, x, rows, cols);
  for (size_t i = 0; i < x.size(); ++i) {
    // IEEE half: 11 significant bits, round to nearest: relative error <= 2^-11 (normal range; |x| > 6e-5 here
    // or the absolute subnormal step).
    const float bound = std::max(std::fabs(x[i]) * std::ldexp(1.0f, -11), std::ldexp(1.0f, -25));
    EXPECT_LE(std::fabs(y[i] - x[i]), bound) << "at " << i << ": " << x[i] << " -> " << y[i];
  }
  EXPECT_EQ(y[3], 0.0f);
}

// Q8_0: per block of 32, d = max|x| / 127, q = round(x / d), d stored as F16: |x - q*d16| <= d/2 + 127 |d - d16|.
void check_q8(int rows, int cols, uint32_t seed) {
  auto x = random_rows(rows, cols, seed);
  EXPECT_EQ(wire_bytes(WireType::Q8_0, rows, cols), size_t(rows * ((cols + 31) / 32) * 34));
  auto y = round_trip(WireType::Q8_0, x, rows, cols);
  double err2 = 0, sig2 = 0;
  for (int r = 0; r < rows; ++r)
    for (int b = 0; b < cols; b += 32) {
      float amax = 0;
      for (int k = b; k < std::min(cols, b + 32); ++k) amax = std::max(amax, std::fabs(x[r * cols + k]));
      const float d = amax / 127;
      const float bound = d * (0.5f + 127 * std::ldexp(1.0f, -11)) + 1e-7f;
      for (int k = b; k < std::min(cols, b + 32); ++k) {
        const size_t i = static_cast<size_t>(r) * cols + k;
        EXPECT_LE(std::fabs(y[i] - x[i]), bound) << "row " << r << " col " << k;
        err2 += (y[i] - x[i]) * (y[i] - x[i]);
        sig2 += x[i] * x[i];
      }
    }
  EXPECT_LT(err2 / sig2, 1e-3);  // normalized MSE of 8-bit blocks: ~1e-4
  EXPECT_EQ(y[3], 0.0f);
}

TEST(PipelineWire, Q8_0WithinHalfAStep) { check_q8(4, 64, 3); }
TEST(PipelineWire, Q8_0PadsPartialBlocks) { check_q8(3, 70, 4); }

TEST(PipelineWire, WireTypeNames) {
  EXPECT_EQ(parse_wire_type("f32"), WireType::F32);
  EXPECT_EQ(parse_wire_type("F16"), WireType::F16);
  EXPECT_EQ(parse_wire_type("q8_0"), WireType::Q8_0);
  EXPECT_THROW(parse_wire_type("q4_0"), Error);
  EXPECT_STREQ(wire_type_name(WireType::Q8_0), "q8_0");
}

Message sample_message(WireType t) {
  Message m;
  m.kind = MsgKind::Hidden;
  m.wire = t;
  m.micro_batch = 42;
  m.lap = 3;
  m.pos = {7, 8, 9};
  m.seqs = {0, 0, 1};
  m.rows = {2};
  m.ints = {1, 2, 7, 9};
  m.n_cols = 64;
  m.data = random_rows(3, 64, 5);
  m.text = "hello";
  return m;
}

TEST(PipelineWire, MessageRoundTrip) {
  for (WireType t : {WireType::F32, WireType::F16, WireType::Q8_0}) {
    Message m = sample_message(t);
    auto bytes = encode_message(m);
    EXPECT_EQ(bytes.size(), 56 + 4 * (3 + 3 + 1 + 4) + 5 + wire_bytes(t, 3, 64));
    Message d = decode_message(bytes.data(), bytes.size());
    EXPECT_EQ(d.kind, m.kind);
    EXPECT_EQ(d.wire, t);
    EXPECT_EQ(d.micro_batch, 42);
    EXPECT_EQ(d.lap, 3);
    EXPECT_EQ(d.pos, m.pos);
    EXPECT_EQ(d.seqs, m.seqs);
    EXPECT_EQ(d.rows, m.rows);
    EXPECT_EQ(d.ints, m.ints);
    EXPECT_EQ(d.n_cols, 64);
    EXPECT_EQ(d.text, "hello");
    EXPECT_EQ(d.data, round_trip(t, m.data, 3, 64));
  }
  Message stop;
  stop.kind = MsgKind::Stop;
  auto bytes = encode_message(stop);
  Message d = decode_message(bytes.data(), bytes.size());
  EXPECT_EQ(d.kind, MsgKind::Stop);
  EXPECT_EQ(d.n(), 0);
  EXPECT_TRUE(d.data.empty());
}

TEST(PipelineWire, MalformedMessagesAreErrors) {
  auto bytes = encode_message(sample_message(WireType::F16));
  EXPECT_THROW(decode_message(bytes.data(), 10), Error);                // shorter than a header
  EXPECT_THROW(decode_message(bytes.data(), bytes.size() - 1), Error);  // truncated payload
  auto extra = bytes;
  extra.push_back(0);
  EXPECT_THROW(decode_message(extra.data(), extra.size()), Error);  // trailing bytes
  auto bad = bytes;
  bad[0] ^= 0xFF;
  EXPECT_THROW(decode_message(bad.data(), bad.size()), Error);  // magic
  bad = bytes;
  bad[7] = 9;
  EXPECT_THROW(decode_message(bad.data(), bad.size()), Error);  // wire type
  bad = bytes;
  int32_t neg = -5;
  std::memcpy(bad.data() + 12, &neg, 4);
  EXPECT_THROW(decode_message(bad.data(), bad.size()), Error);  // negative count
  try {
    decode_message(bytes.data(), bytes.size() - 1);
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("pipeline message"), std::string::npos) << e.what();
  }
  Message m = sample_message(WireType::F32);
  m.seqs.pop_back();
  EXPECT_THROW(encode_message(m), Error);
}

TEST(PipelinePlan, RangesFollowMemory) {
  const std::vector<size_t> layers(8, 100);
  auto eq = plan_by_memory(layers, {0, 0});
  ASSERT_EQ(eq.size(), 2u);
  EXPECT_EQ(eq[0].layer_begin, 0);
  EXPECT_EQ(eq[0].layer_end, 4);
  EXPECT_EQ(eq[1].layer_end, 8);
  EXPECT_TRUE(eq[0].input && !eq[0].output && eq[1].output && !eq[1].input);
  auto skew = plan_by_memory(layers, {1, 3});  // a quarter and three quarters
  EXPECT_EQ(skew[0].layer_end, 2);
  EXPECT_EQ(skew[1].layer_begin, 2);
  auto four = plan_by_memory(layers, {8, 8, 8, 8});
  for (int s = 0; s < 4; ++s) EXPECT_EQ(four[s].layer_end - four[s].layer_begin, 2) << s;
  // Every rank gets a layer even with little memory.
  auto tiny = plan_by_memory(layers, {1000, 1, 1});
  EXPECT_EQ(tiny[0].layer_end, 6);
  EXPECT_EQ(tiny[1].layer_end, 7);
  EXPECT_EQ(tiny[2].layer_end, 8);
  EXPECT_THROW(plan_by_memory(layers, std::vector<size_t>(9, 1)), Error);
}

// Rank 0 samples from the candidates the last stage sends back (the K highest logits and the tokens the chain
// changes) exactly as from the whole row: same seeds, same tokens, over many steps whose windows and rows change.
TEST(PipelineCandidates, SamplingFromCandidatesEqualsTheWholeRow) {
  const int n_vocab = 500;
  std::vector<SamplerParams> cases(5);
  cases[0].temperature = 0;  // greedy
  cases[1].temperature = 0.8f;
  cases[1].top_k = 40;
  cases[2] = cases[1];
  cases[2].repeat_penalty = 1.5f;
  cases[2].presence_penalty = 0.7f;
  cases[2].frequency_penalty = 0.3f;
  cases[2].repeat_last_n = 16;
  cases[3] = cases[2];
  cases[3].temperature = 0;
  cases[3].logit_bias = {{7, 30.0f}, {8, -INFINITY}};
  cases[4] = cases[2];
  cases[4].top_k = 1;
  cases[4].top_p = 0.5f;
  std::mt19937 rng(3);
  std::normal_distribution<float> nd(0.0f, 3.0f);
  for (size_t c = 0; c < cases.size(); ++c) {
    cases[c].seed = 1234;
    Sampler whole(cases[c]), parts(cases[c]);
    size_t sent = 0;
    for (int step = 0; step < 200; ++step) {
      std::vector<float> row(n_vocab);
      for (float& x : row) x = nd(rng);
      row[step % 50] = row[(step + 1) % 50];  // ties
      std::vector<int32_t> spec, ints;
      std::vector<float> values, rebuilt;
      pipeline::append_logits_request(parts, false, spec);
      ASSERT_NE(spec[0], pipeline::kLogitsAll) << c;
      pipeline::select_candidates(row.data(), 1, n_vocab, spec, ints, values);
      sent += values.size();
      pipeline::expand_candidates(ints, values, 1, n_vocab, rebuilt);
      const int32_t a = whole.sample(row.data(), n_vocab), b = parts.sample(rebuilt.data(), n_vocab);
      ASSERT_EQ(a, b) << "case " << c << ", step " << step;
      whole.accept(a);
      parts.accept(b);
    }
    EXPECT_LT(sent, 200u * 100) << c;  // a few dozen values a row instead of 500
  }
  // Log-probabilities, or no top-k with a temperature: the whole row; malformed answers are errors.
  SamplerParams open;
  open.temperature = 0.8f;
  open.top_k = 0;
  std::vector<int32_t> spec;
  pipeline::append_logits_request(Sampler(open), false, spec);
  pipeline::append_logits_request(Sampler(cases[0]), true, spec);
  EXPECT_EQ(spec, (std::vector<int32_t>{pipeline::kLogitsAll, pipeline::kLogitsAll}));
  std::vector<float> rows;
  EXPECT_THROW(pipeline::expand_candidates({2, 1, 9999}, {0.5f, 0.25f}, 1, n_vocab, rows), Error);
  EXPECT_THROW(pipeline::expand_candidates({3, 1, 2}, {0.5f, 0.25f}, 1, n_vocab, rows), Error);
  EXPECT_THROW(pipeline::expand_candidates({pipeline::kLogitsAll}, {0.5f}, 1, n_vocab, rows), Error);
}

}  // namespace
}  // namespace hearth::pipeline

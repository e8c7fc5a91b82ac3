// JSON mode: the byte recognizer against nlohmann::json (the reference parser) on hand-picked and random inputs,
// and generation with the constraint on the real stories260K model: every output is a valid start of a JSON
// object, and one that ends by itself is a whole object.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <random>
#include <string>

#include "hearth/generate.h"
#include "hearth/model.h"
#include "hearth/session.h"
#include "sampling/json_recognizer.h"
#include "test_util.h"

namespace hearth {
namespace {

using sampling::JsonRecognizer;

// How many bytes of s the recognizer takes, and whether they make a complete object.
std::pair<size_t, bool> run(const std::string& s) {
  JsonRecognizer r;
  for (size_t i = 0; i < s.size(); ++i)
    if (!r.feed(static_cast<unsigned char>(s[i]))) return {i, false};
  return {s.size(), r.complete()};
}

bool reference_object(const std::string& s) {
  auto j = nlohmann::json::parse(s, nullptr, false);
  return !j.is_discarded() && j.is_object();
}

TEST(JsonRecognizer, AcceptsObjects) {
  for (const std::string s :
       {"{}", " \n{ }", R"({"a":1})", R"({"a": -0.5e+10, "b": [true, false, null, "x\"\\\/\b\f\n\r\t\u00e9"], "c": {}})",
        R"({"k":[[],[{}],[1,2.25,3E-2]]})", "{\"\xc3\xa9\": \"\xe2\x82\xac\"}", R"({"n":0,"m":10,"z":-7})"}) {
    auto [taken, complete] = run(s);
    EXPECT_EQ(taken, s.size()) << s;
    EXPECT_TRUE(complete) << s;
    EXPECT_TRUE(reference_object(s)) << s;
  }
}

TEST(JsonRecognizer, RejectsAtTheFirstBadByte) {
  struct Case {
    std::string s;
    size_t bad;  // index of the first byte refused
  };
  const Case cases[] = {
      {"[1]", 0},              // the top level is an object
      {R"({"a":01})", 6},      // leading zero
      {R"({"a" 1})", 5},       // missing colon
      {"{'a':1}", 1},          // single quotes
      {R"({"a":tru})", 8},     // literal cut short
      {R"({"a":1}x)", 7},      // nothing after the object
      {"{\"a\x01\":1}", 3},    // control character in a string
      {R"({"a":"\x"})", 7},    // bad escape
      {R"({"a":"\u12G4"})", 10},
      {R"({"a":1,})", 7},      // trailing comma
      {R"({"a":[1,]})", 8},
      {R"({"a":-})", 6},
      {R"({"a":1.})", 7},
      {R"({"a":1e})", 7},
      {R"({"a":]})", 5},
      {R"({"a":1])", 6},       // mismatched bracket
  };
  for (const Case& c : cases) {
    auto [taken, complete] = run(c.s);
    EXPECT_EQ(taken, c.bad) << c.s;
    EXPECT_FALSE(complete) << c.s;
    EXPECT_FALSE(reference_object(c.s)) << c.s;
  }
  // Prefixes of valid objects are taken but not complete.
  EXPECT_EQ(run(R"({"a": [1, {"b": "c)"), (std::pair<size_t, bool>{18, false}));
}

TEST(JsonRecognizer, LimitsDepthAndWhitespace) {
  std::string deep = "{\"a\":";
  for (int i = 1; i < JsonRecognizer::kMaxDepth; ++i) deep += "[";
  EXPECT_EQ(run(deep).first, deep.size());
  EXPECT_EQ(run(deep + "[").first, deep.size());
  const std::string ws(JsonRecognizer::kMaxWhitespace, ' ');
  EXPECT_EQ(run("{" + ws + "}").second, true);
  EXPECT_EQ(run("{" + ws + " }").first, 1 + ws.size());
}

// Random byte strings over JSON's alphabet and random valid objects: the recognizer agrees with nlohmann::json
// on every complete object it accepts, and accepts every object nlohmann writes.
TEST(JsonRecognizer, AgreesWithTheReferenceParser) {
  std::mt19937 rng(7);
  const std::string alphabet = "{}[]:,\"\\ 0123456789-+.eEtrufalsn\nxu";
  int accepted = 0;
  for (int n = 0; n < 200000; ++n) {
    std::string s = "{";
    const int len = 1 + static_cast<int>(rng() % 14);
    for (int i = 0; i < len; ++i) s += alphabet[rng() % alphabet.size()];
    auto [taken, complete] = run(s);
    if (taken == s.size() && complete) {
      ++accepted;
      ASSERT_TRUE(reference_object(s)) << s;
    } else if (taken == s.size()) {
      ASSERT_FALSE(reference_object(s)) << s;  // a strict prefix is not yet an object
    }
  }
  EXPECT_GT(accepted, 50);
  std::function<nlohmann::json(int)> random_value = [&](int depth) -> nlohmann::json {
    switch (rng() % (depth > 3 ? 4 : 6)) {
      case 0: return static_cast<int>(rng() % 2000) - 1000;
      case 1: return std::ldexp(static_cast<double>(rng() % 100000), -static_cast<int>(rng() % 20));
      case 2: return std::string(1 + rng() % 5, static_cast<char>('a' + rng() % 26)) + "\n\"\\\xc3\xa9";
      case 3: return rng() % 3 == 0 ? nlohmann::json(nullptr) : nlohmann::json(rng() % 2 == 0);
      case 4: {
        nlohmann::json a = nlohmann::json::array();
        for (int i = static_cast<int>(rng() % 4); i > 0; --i) a.push_back(random_value(depth + 1));
        return a;
      }
      default: {
        nlohmann::json o = nlohmann::json::object();
        for (int i = static_cast<int>(rng() % 4); i > 0; --i) o["k" + std::to_string(rng() % 50)] = random_value(depth + 1);
        return o;
      }
    }
  };
  for (int n = 0; n < 2000; ++n) {
    nlohmann::json o = nlohmann::json::object();
    for (int i = static_cast<int>(rng() % 5); i > 0; --i) o["key" + std::to_string(i)] = random_value(0);
    for (int indent : {-1, 2}) {
      const std::string s = o.dump(indent);
      auto [taken, complete] = run(s);
      ASSERT_EQ(taken, s.size()) << s;
      ASSERT_TRUE(complete) << s;
    }
  }
}

// stories260K never saw JSON; constrained, whatever it writes is a valid start of an object, and when it ends
// on its own, a whole one.
TEST(JsonMode, ConstrainedGenerationIsJson) {
  const std::string path = test::fixture("stories260K/stories260K.gguf");
  HEARTH_REQUIRE_FIXTURE(path);
  LoadParams lp;
  lp.n_threads = 2;
  lp.n_gpu_layers = 0;
  auto model = Model::load(path, lp);
  int ended = 0;
  for (uint64_t seed = 0; seed < 8; ++seed) {
    SessionParams sp;
    sp.n_ctx = 512;
    Session s(*model, sp);
    GenerateParams g;
    g.n_predict = 300;
    g.json = true;
    g.sampling.temperature = seed == 0 ? 0.0f : 1.0f;
    g.sampling.seed = seed;
    std::string text;
    GenerateStats st = generate(s, model->tokenize("Once upon a time", true, false), g, [&](const std::string& t) {
      text += t;
      return true;
    });
    auto [taken, complete] = run(text);
    EXPECT_EQ(taken, text.size()) << "seed " << seed << ": " << text;
    if (st.stop_reason == "eog") {
      ++ended;
      EXPECT_TRUE(complete) << text;
      EXPECT_TRUE(reference_object(text)) << text;
    }
  }
  RecordProperty("ended", ended);
}

}  // namespace
}  // namespace hearth

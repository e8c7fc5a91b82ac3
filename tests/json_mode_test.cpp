// JSON mode and structured output: the byte recognizers against nlohmann::json (the reference parser, plus a
// small validator of the schema subset) on hand-picked, random and edited inputs, and generation with the
// constraint on the real stories260K model: every output is a valid start of a JSON object (of the schema), and
// one that ends by itself is a whole one.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <random>
#include <string>

#include "hearth/generate.h"
#include "hearth/model.h"
#include "hearth/session.h"
#include "sampling/json_recognizer.h"
#include "sampling/json_schema.h"
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

std::string key(const char* prefix, unsigned n) {
  std::string k = prefix;
  k += std::to_string(n);
  return k;
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
        for (int i = static_cast<int>(rng() % 4); i > 0; --i) o[key("k", rng() % 50)] = random_value(depth + 1);
        return o;
      }
    }
  };
  for (int n = 0; n < 2000; ++n) {
    nlohmann::json o = nlohmann::json::object();
    for (int i = static_cast<int>(rng() % 5); i > 0; --i) o[key("key", i)] = random_value(0);
    for (int indent : {-1, 2}) {
      const std::string s = o.dump(indent);
      auto [taken, complete] = run(s);
      ASSERT_EQ(taken, s.size()) << s;
      ASSERT_TRUE(complete) << s;
    }
  }
}

// --- JSON schemas ---

using sampling::JsonSchema;
using sampling::SchemaRecognizer;

const char* kSchema = R"({
  "type": "object",
  "properties": {
    "name": {"type": "string", "description": "ignored"},
    "age": {"type": "integer"},
    "score": {"type": "number"},
    "tags": {"type": "array", "items": {"type": "string"}, "minItems": 1, "maxItems": 3},
    "kind": {"enum": ["cat", "dog", 3, null]},
    "ok": {"type": "boolean"},
    "none": {"type": "null"},
    "extra": {},
    "nested": {"properties": {"a\"b": {"const": [1, 2]}}, "required": ["a\"b"]}
  }
})";

std::pair<size_t, bool> run_schema(const JsonSchema& schema, const std::string& s) {
  SchemaRecognizer r(&schema);
  for (size_t i = 0; i < s.size(); ++i)
    if (!r.feed(static_cast<unsigned char>(s[i]))) return {i, false};
  return {s.size(), r.complete()};
}

// The reference: nlohmann parses the text, then the value is checked against the subset's rules.
bool conforms(const nlohmann::json& schema, const nlohmann::json& v) {
  if (schema.contains("const")) return v == schema["const"];
  if (schema.contains("enum")) {
    for (const auto& e : schema["enum"])
      if (e == v) return true;
    return false;
  }
  const std::string type = schema.value("type", schema.contains("properties") ? "object" : "");
  if (type == "object") {
    if (!v.is_object()) return false;
    if (!schema.contains("properties")) return true;
    if (v.size() != schema["properties"].size()) return false;
    for (auto it = schema["properties"].begin(); it != schema["properties"].end(); ++it)
      if (!v.contains(it.key()) || !conforms(it.value(), v[it.key()])) return false;
    return true;
  }
  if (type == "array") {
    if (!v.is_array()) return false;
    if (v.size() < schema.value("minItems", 0u) || v.size() > schema.value("maxItems", 1000000u)) return false;
    for (const auto& x : v)
      if (schema.contains("items") && !conforms(schema["items"], x)) return false;
    return true;
  }
  if (type == "string") return v.is_string();
  if (type == "integer") return v.is_number_integer();
  if (type == "number") return v.is_number();
  if (type == "boolean") return v.is_boolean();
  if (type == "null") return v.is_null();
  return true;
}

bool reference_conforms(const char* schema, const std::string& text) {
  auto v = nlohmann::json::parse(text, nullptr, false);
  return !v.is_discarded() && conforms(nlohmann::json::parse(schema), v);
}

const char* kInstance =
    R"({"name":"Tom \"T\" \u00e9","age":-3,"score":1.5e-3,"tags":["a","b"],"kind":"dog","ok":true,"none":null,)"
    R"("extra":{"x":[1,{"y":null}]},"nested":{"a\"b":[1,2]}})";

TEST(JsonSchema, AcceptsInstancesInEveryLayout) {
  const JsonSchema schema = JsonSchema::parse(kSchema);
  ASSERT_TRUE(reference_conforms(kSchema, kInstance));
  const auto parsed = nlohmann::ordered_json::parse(kInstance);  // keys in the schema's order
  for (const std::string& s : {std::string(kInstance), parsed.dump(2), parsed.dump(1, '\t')}) {
    EXPECT_EQ(run_schema(schema, s), (std::pair<size_t, bool>{s.size(), true})) << s;
  }
}

TEST(JsonSchema, RejectsWhatDoesNotConform) {
  const JsonSchema schema = JsonSchema::parse(kSchema);
  const std::string good = kInstance;
  auto with = [&](const std::string& from, const std::string& to) {
    std::string s = good;
    const size_t at = s.find(from);
    EXPECT_NE(at, std::string::npos) << from;
    return s.replace(at, from.size(), to);
  };
  for (const std::string& bad : {
           with("\"age\":-3", "\"age\":-3.5"),         // not an integer
           with("\"age\":-3", "\"age\":\"3\""),       // a string
           with("\"kind\":\"dog\"", "\"kind\":\"cow\""),
           with("\"kind\":\"dog\"", "\"kind\":33"),
           with("[\"a\",\"b\"]", "[]"),                 // minItems 1
           with("[\"a\",\"b\"]", "[\"a\",\"b\",\"c\",\"d\"]"),  // maxItems 3
           with("[\"a\",\"b\"]", "[\"a\",]"),
           with("\"ok\":true", "\"ok\":1"),
           with("\"none\":null", "\"none\":nul"),
           with("\"name\":", "\"nom\":"),               // unknown key
           with("[1,2]}}", "[1,2,3]}}"),                  // const
           good.substr(0, good.size() - 1),               // not finished
       }) {
    auto [taken, complete] = run_schema(schema, bad);
    EXPECT_FALSE(taken == bad.size() && complete) << bad;
    EXPECT_FALSE(reference_conforms(kSchema, bad)) << bad;
  }
  // Stricter than the schema itself: properties in the schema's order, nothing after the value.
  for (const std::string& bad : {with("\"age\":-3,\"score\":1.5e-3,", "\"score\":1.5e-3,\"age\":-3,"), good + " "}) {
    auto [taken, complete] = run_schema(schema, bad);
    EXPECT_FALSE(taken == bad.size() && complete) << bad;
  }
}

// Single-byte edits of a valid instance: whatever the recognizer takes whole, the reference takes too.
TEST(JsonSchema, AgreesWithTheReferenceOnEdits) {
  const JsonSchema schema = JsonSchema::parse(kSchema);
  const std::string good = kInstance;
  const std::string bytes = "{}[]:,\"\\ 0123456789-+.eEtrufalsnxu\n";
  std::mt19937 rng(11);
  int taken_whole = 0;
  for (int n = 0; n < 20000; ++n) {
    std::string s = good;
    const size_t at = rng() % s.size();
    switch (rng() % 3) {
      case 0: s.erase(at, 1); break;
      case 1: s.insert(at, 1, bytes[rng() % bytes.size()]); break;
      default: s[at] = bytes[rng() % bytes.size()]; break;
    }
    auto [taken, complete] = run_schema(schema, s);
    if (taken == s.size() && complete) {
      ++taken_whole;
      ASSERT_TRUE(reference_conforms(kSchema, s)) << s;
    }
  }
  EXPECT_GT(taken_whole, 100);
}

TEST(JsonSchema, ScalarRootsAndUnsupportedKeywords) {
  const JsonSchema integer = JsonSchema::parse(R"({"type": "integer"})");
  EXPECT_EQ(run_schema(integer, "42"), (std::pair<size_t, bool>{2, true}));
  EXPECT_EQ(run_schema(integer, " -0"), (std::pair<size_t, bool>{3, true}));
  EXPECT_EQ(run_schema(integer, "01").first, 1u);
  EXPECT_EQ(run_schema(integer, "4.5").first, 1u);
  const JsonSchema color = JsonSchema::parse(R"({"enum": ["red", "green"]})");
  EXPECT_EQ(run_schema(color, "\"green\""), (std::pair<size_t, bool>{7, true}));
  EXPECT_EQ(run_schema(color, "\"gr\"").first, 3u);
  auto error_of = [](const std::string& schema) -> std::string {
    try {
      JsonSchema::parse(schema);
    } catch (const Error& e) {
      return e.what();
    }
    return "no error";
  };
  EXPECT_NE(error_of(R"({"anyOf": [{"type": "string"}]})").find("'anyOf' at $"), std::string::npos);
  EXPECT_NE(error_of(R"({"properties": {"a": {"$ref": "#/x"}}})").find("'$ref' at $.a"), std::string::npos);
  EXPECT_NE(error_of(R"({"type": ["string", "null"]})").find("lists of types"), std::string::npos);
  EXPECT_NE(error_of(R"({"type": "date"})").find("unknown type 'date'"), std::string::npos);
  EXPECT_NE(error_of("{nope").find("not valid JSON"), std::string::npos);
  EXPECT_NE(error_of(R"({"type": "array", "minItems": 3, "maxItems": 2})").find("maxItems"), std::string::npos);
}

std::string schema_error(const std::string& schema) {
  try {
    check_json_schema(schema);  // the public API's check (C, Python and the server call it)
  } catch (const Error& e) {
    return e.what();
  }
  return "no error";
}

// Issue 15: schemas from a client are bounded before anything walks them recursively. An enum value nested
// 100,000 deep was dumped recursively (a stack overflow); a schema nested 100,000 deep is refused by its depth.
TEST(JsonSchemaLimits, DeepSchemasAreRefusedNamingTheLimit) {
  const int n = 100000;
  const std::string deep_enum = R"({"enum": [)" + std::string(n, '[') + std::string(n, ']') + "]}";
  EXPECT_NE(schema_error(deep_enum).find("deeper than 64"), std::string::npos) << schema_error(deep_enum);
  std::string deep_props;
  for (int i = 0; i < n; ++i) deep_props += R"({"type":"object","properties":{"a":)";
  deep_props += "{}";
  for (int i = 0; i < n; ++i) deep_props += "}}";
  EXPECT_NE(schema_error(deep_props).find("deeper than 64"), std::string::npos) << schema_error(deep_props);
  // Within the document limit but beyond what the recognizer follows: the message names that limit too.
  std::string sixteen;
  for (int i = 0; i < 16; ++i) sixteen += R"({"properties":{"a":)";
  sixteen += "{}" + std::string(32, '}');
  EXPECT_NE(schema_error(sixteen).find("deeper than 14 levels"), std::string::npos) << schema_error(sixteen);
}

// A 50,000-property schema took 9 s of CPU (the order-keeping parse is quadratic in an object's size); it is
// refused by its size, before that parse.
TEST(JsonSchemaLimits, HugeSchemasAreRefusedNamingTheLimit) {
  std::string wide = R"({"type":"object","properties":{)";
  for (int i = 0; i < 50000; ++i) {
    if (i) wide += ',';
    wide += "\"p";
    wide += std::to_string(i);
    wide += R"(":{"type":"integer"})";
  }
  wide += "}}";
  EXPECT_NE(schema_error(wide).find("more than 1000"), std::string::npos) << schema_error(wide);
  // Many small objects: the total is bounded too.
  std::string many = R"({"type":"array","items":{"enum":[)";
  for (int i = 0; i < 20000; ++i) many += i ? ",[1]" : "[1]";
  many += "]}}";
  EXPECT_NE(schema_error(many).find("more than 10000 JSON values"), std::string::npos) << schema_error(many);
  // A schema of ordinary size still compiles.
  EXPECT_EQ(schema_error(R"({"type":"object","properties":{"a":{"type":"integer"}}})"), "no error");
}

// Valid JSON text (a number beyond double's range is valid JSON that nlohmann refuses to store: out_of_range).
bool valid_json(const std::string& s) {
  try {
    return !nlohmann::json::parse(s).is_discarded();
  } catch (const nlohmann::json::out_of_range&) {
    return true;
  } catch (const nlohmann::json::exception&) {
    return false;
  }
}

// Hostile schemas: random JSON values as schemas either compile or throw hearth::Error, never anything else;
// those that compile take random bytes without crashing, and what they take whole is valid JSON.
TEST(JsonSchema, RandomSchemasAreErrorsOrWork) {
  std::mt19937 rng(3);
  const std::vector<std::string> keys = {"type", "properties", "items", "enum", "const", "minItems", "maxItems",
                                         "required", "anyOf", "description", "format", "x"};
  const std::vector<nlohmann::json> leaves = {"object", "array", "string", "integer", "number", "boolean", "null",
                                              "date", 3, -1, 100001, true, false, nullptr, nlohmann::json::array(),
                                              nlohmann::json::object(), nlohmann::json::array({1, "a", nullptr})};
  std::function<nlohmann::json(int)> random_schema = [&](int depth) -> nlohmann::json {
    if (depth > 20 || rng() % 4 == 0) return leaves[rng() % leaves.size()];
    nlohmann::json o = nlohmann::json::object();
    for (int i = static_cast<int>(rng() % 4); i > 0; --i) {
      const std::string& k = keys[rng() % keys.size()];
      if (k == "properties") {
        nlohmann::json p = nlohmann::json::object();
        for (int j = static_cast<int>(rng() % 3); j > 0; --j) p[key("p", rng() % 5)] = random_schema(depth + 1);
        o[k] = p;
      } else {
        o[k] = rng() % 2 ? random_schema(depth + 1) : leaves[rng() % leaves.size()];
      }
    }
    return o;
  };
  const std::string bytes = "{}[]:,\" 0123456789-.etrufalsnxp";
  int compiled = 0;
  for (int n = 0; n < 3000; ++n) {
    const std::string text = random_schema(0).dump();
    JsonSchema schema = JsonSchema::any_object();
    try {
      schema = JsonSchema::parse(text);
    } catch (const Error&) {
      continue;
    }
    ++compiled;
    for (int k = 0; k < 20; ++k) {
      std::string s;
      for (int i = static_cast<int>(rng() % 24); i > 0; --i) s += bytes[rng() % bytes.size()];
      auto [taken, complete] = run_schema(schema, s);
      if (taken == s.size() && complete) {
        EXPECT_TRUE(valid_json(s)) << "schema " << text << " took [" << s << "]";
      }
    }
  }
  EXPECT_GT(compiled, 100);
}

// Constrained generation on stories260K from "Once upon a time": seed 0 greedy, the others sampled at
// temperature 1; returns each run's text and stop reason.
std::vector<std::pair<std::string, std::string>> constrained_runs(const std::string& schema, int n_seeds, int n) {
  LoadParams lp;
  lp.n_threads = 2;
  lp.n_gpu_layers = 0;
  auto model = Model::load(test::fixture("stories260K/stories260K.gguf"), lp);
  std::vector<std::pair<std::string, std::string>> out;
  for (int seed = 0; seed < n_seeds; ++seed) {
    SessionParams sp;
    sp.n_ctx = 512;
    Session s(*model, sp);
    GenerateParams g;
    g.n_predict = n;
    g.json = true;
    g.json_schema = schema;
    g.sampling.temperature = seed == 0 ? 0.0f : 1.0f;
    g.sampling.seed = static_cast<uint64_t>(seed);
    std::string text;
    GenerateStats st = generate(s, model->tokenize("Once upon a time", true, false), g, [&](const std::string& t) {
      text += t;
      return true;
    });
    out.emplace_back(text, st.stop_reason);
  }
  return out;
}

// stories260K never saw JSON; constrained, whatever it writes is a valid start of an object, and when it ends
// on its own, a whole one.
TEST(JsonMode, ConstrainedGenerationIsJson) {
  HEARTH_REQUIRE_FIXTURE(test::fixture("stories260K/stories260K.gguf"));
  for (const auto& [text, stop] : constrained_runs("", 8, 300)) {
    auto [taken, complete] = run(text);
    EXPECT_EQ(taken, text.size()) << text;
    if (stop == "eog") {
      EXPECT_TRUE(complete) << text;
      EXPECT_TRUE(reference_object(text)) << text;
    }
  }
}

// With a schema: a valid start of an instance, in the schema's property order; a whole one when it ends.
TEST(JsonMode, SchemaConstrainedGeneration) {
  HEARTH_REQUIRE_FIXTURE(test::fixture("stories260K/stories260K.gguf"));
  const char* schema_text =
      R"({"type":"object","properties":{"hero":{"type":"string"},"age":{"type":"integer"},)"
      R"("mood":{"enum":["happy","sad"]},"friends":{"type":"array","items":{"type":"string"},"maxItems":2}}})";
  const JsonSchema schema = JsonSchema::parse(schema_text);
  for (const auto& [text, stop] : constrained_runs(schema_text, 6, 400)) {
    auto [taken, complete] = run_schema(schema, text);
    EXPECT_EQ(taken, text.size()) << text;
    EXPECT_NE(text.find("\"hero\""), std::string::npos) << text;
    if (stop == "eog") {
      EXPECT_TRUE(complete) << text;
      EXPECT_TRUE(reference_conforms(schema_text, text)) << text;
    }
  }
}

}  // namespace
}  // namespace hearth

#include "sampling/json_schema.h"

#include <algorithm>
#include <string_view>
#include <nlohmann/json.hpp>

#include "hearth/error.h"
#include "sampling/json_limits.h"

namespace hearth::sampling {

using json = nlohmann::ordered_json;  // properties in the order the schema declares them

namespace {

// Where whitespace may come in compact JSON text: before byte i (and at the end), between tokens, outside strings.
std::string whitespace_positions(const std::string& text) {
  std::string ok(text.size() + 1, '0');
  bool in_string = false, escaped = false;
  for (size_t i = 0; i <= text.size(); ++i) {
    const char prev = i > 0 ? text[i - 1] : 0, next = i < text.size() ? text[i] : 0;
    if (!in_string && i > 0 && i < text.size() &&
        (std::string_view("[{,:").find(prev) != std::string_view::npos ||
         std::string_view("]},:").find(next) != std::string_view::npos))
      ok[i] = '1';
    if (i == text.size()) break;
    const char c = text[i];
    if (in_string) {
      if (escaped) escaped = false;
      else if (c == '\\') escaped = true;
      else if (c == '"') in_string = false;
    } else if (c == '"') {
      in_string = true;
    }
  }
  return ok;
}

}  // namespace

class SchemaBuilder {
 public:
  explicit SchemaBuilder(JsonSchema& s) : s_(s) {}

  int add(const json& j, const std::string& where, int depth) {
    if (depth > SchemaRecognizer::kMaxDepth - 2)
      throw Error("JSON schema: nested deeper than " + std::to_string(SchemaRecognizer::kMaxDepth - 2) +
                  " levels (hearth's limit) at " + where);
    const int index = static_cast<int>(s_.nodes_.size());
    s_.nodes_.emplace_back();
    SchemaNode n;
    if (j.is_boolean()) {
      if (!j.get<bool>()) throw Error("JSON schema: 'false' at " + where + " allows no value");
      s_.nodes_[index] = n;
      return index;
    }
    if (!j.is_object()) throw Error("JSON schema: expected an object at " + where);
    for (const char* k : {"anyOf", "oneOf", "allOf", "not", "$ref", "patternProperties", "if", "dependentSchemas",
                          "prefixItems", "contains", "unevaluatedProperties"})
      if (j.contains(k)) throw Error(std::string("JSON schema: '") + k + "' at " + where + " is not supported");
    if (j.contains("enum") || j.contains("const")) {
      n.kind = SchemaNode::Kind::Enum;
      const json values = j.contains("const") ? json::array({j["const"]}) : j["enum"];
      if (!values.is_array() || values.empty()) throw Error("JSON schema: 'enum' at " + where + " must be a non-empty array");
      if (values.size() > 64) throw Error("JSON schema: 'enum' at " + where + " has more than 64 values");
      for (const json& v : values) {
        n.values.push_back(v.dump());
        n.ws_ok.push_back(whitespace_positions(n.values.back()));
      }
      s_.nodes_[index] = n;
      return index;
    }
    std::string type;
    if (auto t = j.find("type"); t != j.end()) {
      if (!t->is_string())
        throw Error("JSON schema: 'type' at " + where + " must be one type name (lists of types are not supported)");
      type = t->get<std::string>();
    } else if (j.contains("properties")) {
      type = "object";
    } else if (j.contains("items")) {
      type = "array";
    }
    if (type.empty()) {
      n.kind = SchemaNode::Kind::Any;
    } else if (type == "object") {
      const json* props = j.contains("properties") ? &j["properties"] : nullptr;
      if (props && !props->is_object()) throw Error("JSON schema: 'properties' at " + where + " must be an object");
      if (!props || props->empty()) {
        n.kind = SchemaNode::Kind::AnyObject;
      } else {
        n.kind = SchemaNode::Kind::Object;
        s_.nodes_[index] = n;
        for (auto it = props->begin(); it != props->end(); ++it) {
          std::string key = json(it.key()).dump();  // with the quotes and escapes as written
          const int child = add(it.value(), where + "." + it.key(), depth + 1);
          s_.nodes_[index].props.emplace_back(key.substr(1), child);  // the opening quote is read separately
        }
        return index;
      }
    } else if (type == "array") {
      n.kind = SchemaNode::Kind::Array;
      auto count = [&](const char* k, int fallback) {
        if (!j.contains(k)) return fallback;
        if (!j[k].is_number_integer() || j[k].get<long long>() < 0 || j[k].get<long long>() > 100000)
          throw Error(std::string("JSON schema: '") + k + "' at " + where + " must be an integer from 0 to 100000");
        return static_cast<int>(j[k].get<long long>());
      };
      n.min_items = count("minItems", 0);
      n.max_items = count("maxItems", -1);
      if (n.max_items >= 0 && n.max_items < n.min_items)
        throw Error("JSON schema: 'maxItems' below 'minItems' at " + where);
      s_.nodes_[index] = n;
      const int child = add(j.contains("items") ? j["items"] : json::object(), where + "[]", depth + 1);
      s_.nodes_[index].items = child;
      return index;
    } else if (type == "string") {
      n.kind = SchemaNode::Kind::String;
    } else if (type == "integer") {
      n.kind = SchemaNode::Kind::Integer;
    } else if (type == "number") {
      n.kind = SchemaNode::Kind::Number;
    } else if (type == "boolean") {
      n.kind = SchemaNode::Kind::Boolean;
    } else if (type == "null") {
      n.kind = SchemaNode::Kind::Null;
    } else {
      throw Error("JSON schema: unknown type '" + type + "' at " + where);
    }
    s_.nodes_[index] = n;
    return index;
  }

 private:
  JsonSchema& s_;
};

JsonSchema JsonSchema::parse(const std::string& schema_json) {
  // The text may come from anyone: its depth and size are checked before anything walks it recursively, and
  // before the order-keeping parse below, whose cost grows with the square of an object's size.
  if (json_text_depth(schema_json, kMaxSchemaDepth) > kMaxSchemaDepth)
    throw Error("JSON schema: nested deeper than " + std::to_string(kMaxSchemaDepth) +
                " levels of arrays and objects (hearth's limit)");
  {
    const nlohmann::json unordered = nlohmann::json::parse(schema_json, nullptr, false);
    if (unordered.is_discarded()) throw Error("JSON schema: not valid JSON");
    check_schema_limits(unordered);
  }
  const json j = json::parse(schema_json, nullptr, false);
  if (j.is_discarded()) throw Error("JSON schema: not valid JSON");
  JsonSchema s;
  SchemaBuilder(s).add(j, "$", 0);
  return s;
}

JsonSchema JsonSchema::any_object() {
  JsonSchema s;
  s.nodes_.emplace_back();
  s.nodes_.back().kind = SchemaNode::Kind::AnyObject;
  return s;
}

namespace {

bool is_ws(unsigned char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }
bool is_digit(unsigned char c) { return c >= '0' && c <= '9'; }

// Phases of a frame.
enum : uint8_t {
  kStart = 0,   // the value's first byte is next
  kObjKey,      // object: the next key's opening quote (after '{' or ',')
  kObjKeyText,  // object: inside the key (index = property, num = position)
  kObjColon,
  kObjValue,    // object: the property's value is next
  kObjAfter,    // object: after a property's value
  kArrFirst,    // array: after '[': an item or ']'
  kArrItem,     // array: after ',': an item
  kArrAfter,    // array: after an item
  kEnum,        // enum: mask = candidates still matching, index = position
  kAny,         // any value, or a scalar of a type (checked at its first byte): the recognizer's any_
};

bool between_tokens(uint8_t phase) {
  return phase == kObjKey || phase == kObjColon || phase == kObjValue || phase == kObjAfter || phase == kArrFirst ||
         phase == kArrItem || phase == kArrAfter;
}

// Whether c may start a value of a scalar kind (JsonRecognizer reads the rest).
bool scalar_start(SchemaNode::Kind k, unsigned char c) {
  using K = SchemaNode::Kind;
  switch (k) {
    case K::String: return c == '"';
    case K::Integer:
    case K::Number: return c == '-' || is_digit(c);
    case K::Boolean: return c == 't' || c == 'f';
    case K::Null: return c == 'n';
    default: return true;
  }
}

}  // namespace

SchemaRecognizer::SchemaRecognizer(const JsonSchema* schema) : schema_(schema), any_(false) {}

void SchemaRecognizer::copy_from(const SchemaRecognizer& o) {
  schema_ = o.schema_;
  depth_ = o.depth_;
  ws_ = o.ws_;
  started_ = o.started_;
  done_ = o.done_;
  if (depth_ > 0 && o.stack_[depth_ - 1].phase == kAny) any_ = o.any_;
  std::copy(o.stack_, o.stack_ + depth_, stack_);
}

bool SchemaRecognizer::whitespace(unsigned char c) { return is_ws(c) && ++ws_ <= JsonRecognizer::kMaxWhitespace; }

bool SchemaRecognizer::can_end(const Frame& f) const {
  const SchemaNode& n = schema_->node(f.node);
  switch (f.phase) {
    case kAny: return any_.can_end();
    case kEnum:
      for (size_t v = 0; v < n.values.size(); ++v)
        if ((f.mask >> v & 1) && n.values[v].size() == f.index) return true;
      return false;
    default: return false;
  }
}

// Pushes a frame for a value of `node` whose first byte is c.
bool SchemaRecognizer::start_child(int node, unsigned char c) {
  if (depth_ == kMaxDepth) return false;
  Frame& f = stack_[depth_++];
  f = Frame{};
  f.node = static_cast<int16_t>(node);
  return step(f, c) == Result::Accept;
}

SchemaRecognizer::Result SchemaRecognizer::step(Frame& f, unsigned char c) {
  const SchemaNode& n = schema_->node(f.node);
  using K = SchemaNode::Kind;
  switch (f.phase) {
    case kStart:
      switch (n.kind) {
        case K::Any:
        case K::AnyObject:
        case K::String:
        case K::Integer:
        case K::Number:
        case K::Boolean:
        case K::Null:
          if (!scalar_start(n.kind, c)) return Result::Reject;
          any_ = JsonRecognizer(n.kind == K::AnyObject);
          f.phase = kAny;
          return any_.feed(c) ? Result::Accept : Result::Reject;
        case K::Object:
          if (c != '{') return Result::Reject;
          f.phase = kObjKey, f.index = 0;
          return Result::Accept;
        case K::Array:
          if (c != '[') return Result::Reject;
          f.phase = kArrFirst, f.index = 0;
          return Result::Accept;
        case K::Enum:
          f.phase = kEnum, f.index = 0, f.mask = 0;
          for (size_t v = 0; v < n.values.size(); ++v) f.mask |= uint64_t{1} << v;
          return step(f, c);
      }
      return Result::Reject;
    case kEnum: {
      if (is_ws(c)) {
        for (size_t v = 0; v < n.values.size(); ++v)
          if ((f.mask >> v & 1) && n.ws_ok[v][f.index] == '1') return whitespace(c) ? Result::Accept : Result::Reject;
      }
      uint64_t next = 0;
      for (size_t v = 0; v < n.values.size(); ++v)
        if ((f.mask >> v & 1) && n.values[v].size() > f.index && static_cast<unsigned char>(n.values[v][f.index]) == c)
          next |= uint64_t{1} << v;
      if (next) {
        f.mask = next, ++f.index;
        return Result::Accept;
      }
      return can_end(f) ? Result::Ended : Result::Reject;
    }
    case kObjKey:
      if (c != '"') return Result::Reject;
      f.phase = kObjKeyText, f.num = 0;
      return Result::Accept;
    case kObjKeyText: {
      const std::string& key = n.props[f.index].first;  // ends with the closing quote
      if (static_cast<unsigned char>(key[f.num]) != c) return Result::Reject;
      if (++f.num == key.size()) f.phase = kObjColon;
      return Result::Accept;
    }
    case kObjColon:
      if (c != ':') return Result::Reject;
      f.phase = kObjValue;
      return Result::Accept;
    case kObjValue:
      f.phase = kObjAfter;
      return start_child(n.props[f.index].second, c) ? Result::Accept : Result::Reject;
    case kObjAfter:
      if (f.index + 1u < n.props.size()) {
        if (c != ',') return Result::Reject;
        ++f.index;
        f.phase = kObjKey;
        return Result::Accept;
      }
      return c == '}' ? Result::Ended : Result::Reject;
    case kArrFirst:
    case kArrItem:
      if (c == ']' && f.phase == kArrFirst) return f.index >= n.min_items ? Result::Ended : Result::Reject;
      if (n.max_items >= 0 && f.index >= n.max_items) return Result::Reject;
      ++f.index;
      f.phase = kArrAfter;
      return start_child(n.items, c) ? Result::Accept : Result::Reject;
    case kArrAfter:
      if (c == ']') return f.index >= n.min_items ? Result::Ended : Result::Reject;
      if (c != ',' || (n.max_items >= 0 && f.index >= n.max_items)) return Result::Reject;
      f.phase = kArrItem;
      return Result::Accept;
    case kAny: {
      if (any_.complete()) return Result::Ended;
      // An integer is a number without a fraction or an exponent.
      if (n.kind == K::Integer && (c == '.' || c == 'e' || c == 'E')) return Result::Reject;
      const JsonRecognizer before = any_;
      if (any_.feed(c)) return Result::Accept;
      any_ = before;
      return any_.can_end() ? Result::Ended : Result::Reject;
    }
  }
  return Result::Reject;
}

bool SchemaRecognizer::feed(unsigned char c) {
  if (done_) return false;
  if (!started_) {
    if (is_ws(c)) return whitespace(c);
    started_ = true;
    ws_ = 0;
    return start_child(schema_->root(), c);
  }
  while (depth_ > 0) {
    Frame& top = stack_[depth_ - 1];
    if (between_tokens(top.phase) && is_ws(c)) return whitespace(c);
    const uint8_t phase = top.phase;
    const Result r = step(top, c);
    if (r == Result::Accept) {
      if (!is_ws(c)) ws_ = 0;
      return true;
    }
    if (r == Result::Reject) return false;
    // The top value ended: with c when c closes its container, else before c, which goes to the parent.
    --depth_;
    if ((phase == kObjAfter && c == '}') || ((phase == kArrFirst || phase == kArrAfter) && c == ']')) {
      ws_ = 0;
      done_ = depth_ == 0;
      return true;
    }
  }
  done_ = true;
  return false;  // nothing may follow the value
}

bool SchemaRecognizer::in_string() const {
  if (!started_ || depth_ == 0) return false;
  const Frame& f = stack_[depth_ - 1];
  return f.phase == kAny && any_.in_string();
}

bool SchemaRecognizer::complete() const { return done_ || (depth_ == 1 && can_end(stack_[0])); }

}  // namespace hearth::sampling

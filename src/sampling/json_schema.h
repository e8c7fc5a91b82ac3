// Structured output: a JSON schema compiled into a byte recognizer for constrained generation (Ollama's
// "format": {schema}, OpenAI's response_format json_schema). The subset that fixes a value's shape:
//   type object with properties: every property written, in the schema's order (the "required" list is not
//     needed: all are); an object without properties: any object;
//   type array: items (any value without), minItems, maxItems;
//   type string, integer, number, boolean, null; a list of types is an error;
//   enum / const: one of the listed JSON values (whitespace allowed between their tokens);
//   {} or true: any value.
// Keywords that only describe or that hearth does not enforce (title, description, format, minLength, maximum,
// ...) are ignored; those that would need more (anyOf, oneOf, allOf, not, $ref, patternProperties, if) are an
// error naming them. The recognizer's state is a small value, cheap to copy (see JsonConstraint).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "sampling/json_recognizer.h"

namespace hearth::sampling {

struct SchemaNode {
  enum class Kind : uint8_t { Any, AnyObject, Object, Array, String, Integer, Number, Boolean, Null, Enum };
  Kind kind = Kind::Any;
  std::vector<std::pair<std::string, int>> props;  // Object: key as it is written between the quotes, node
  int items = -1;                                  // Array: node of the items (-1: any value)
  int min_items = 0, max_items = -1;               // Array (-1: no limit)
  std::vector<std::string> values;                 // Enum: each value as compact JSON text
  std::vector<std::string> ws_ok;                  // Enum: per value, '1' where whitespace may come before byte i
};

class JsonSchema {
 public:
  // Throws hearth::Error (naming the keyword) for what the subset above does not cover, or for malformed JSON.
  static JsonSchema parse(const std::string& schema_json);
  // Any JSON object: plain JSON mode.
  static JsonSchema any_object();
  const SchemaNode& node(int i) const { return nodes_[i]; }
  int root() const { return 0; }

 private:
  friend class SchemaBuilder;
  std::vector<SchemaNode> nodes_;
};

class SchemaRecognizer {
 public:
  static constexpr int kMaxDepth = 16;
  explicit SchemaRecognizer(const JsonSchema* schema);
  // This becomes a copy of o, copying only the frames in use (trying a token from a state, many times a step).
  void copy_from(const SchemaRecognizer& o);
  // False when no value of the schema starts with the bytes so far (the state is then undefined).
  bool feed(unsigned char c);
  // The bytes so far are a whole value of the schema.
  bool complete() const;
  // Inside a string, where any byte but '"', '\\' and control characters keeps it there.
  bool in_string() const;

 private:
  enum class Result : uint8_t { Accept, Reject, Ended };  // Ended: the frame's value ended before this byte
  struct Frame {
    int16_t node = 0;
    uint8_t phase = 0;
    uint8_t num = 0;     // object: position in the key
    uint16_t index = 0;  // object: property; array: items so far; enum: position
    uint64_t mask = 0;   // enum: candidates still matching
  };
  Result step(Frame& f, unsigned char c);
  bool start_child(int node, unsigned char c);
  bool can_end(const Frame& f) const;
  bool whitespace(unsigned char c);

  const JsonSchema* schema_;
  Frame stack_[kMaxDepth];
  uint8_t depth_ = 0;
  uint8_t ws_ = 0;
  bool started_ = false;
  bool done_ = false;
  JsonRecognizer any_;  // the value of the innermost kAny frame (any value, or a scalar)
};

}  // namespace hearth::sampling

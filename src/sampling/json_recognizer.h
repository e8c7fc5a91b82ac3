// An incremental recognizer of one JSON object (RFC 8259), byte by byte: feed() says whether the bytes so far
// can still begin a valid object, complete() whether they form one. Built with object_only false it takes any
// one JSON value (the "any value" parts of a schema, SchemaRecognizer). Its state is a small value (a fixed stack),
// cheap to copy, so that every token of a vocabulary can be tried from the current state (JsonConstraint).
// Limits that keep generation from running away: nesting depth 32, at most 24 whitespace bytes in a row.
#pragma once
#include <cstdint>

namespace hearth::sampling {

class JsonRecognizer {
 public:
  static constexpr int kMaxDepth = 32;
  static constexpr int kMaxWhitespace = 24;

  explicit JsonRecognizer(bool object_only = true) : mode_(object_only ? Mode::Start : Mode::Value) {}
  // Feeds one byte; false (and the state is then undefined) when no valid object starts with the bytes so far.
  bool feed(unsigned char c);
  // The bytes so far are exactly one complete object (nothing may follow).
  bool complete() const { return mode_ == Mode::Done; }
  // The bytes so far are one whole value, possibly a number that more digits would continue.
  bool can_end() const;
  // Inside a string, where any byte but '"', '\\' and control characters keeps it there.
  bool in_string() const { return mode_ == Mode::String; }

 private:
  enum class Mode : uint8_t {
    Start,        // before the top-level '{'
    Value,        // a value is expected (after ':' or ',' in an array, or '[')
    ValueOrClose, // after '[': a value or ']'
    Key,          // a key string is expected (after ',' in an object)
    KeyOrClose,   // after '{': a key or '}'
    Colon,        // after a key
    After,        // after a value inside a container: ',' or the closing bracket
    String,       // inside a string
    Escape,       // after a backslash in a string
    Unicode,      // inside \uXXXX (hex_left more digits)
    Number,       // inside a number (num_ says where)
    Literal,      // inside true / false / null
    Done,         // the top-level object is closed
  };
  enum class Num : uint8_t { Sign, Zero, Int, Dot, Frac, Exp, ExpSign, ExpInt };

  bool value_start(unsigned char c);
  void value_done() { mode_ = depth_ == 0 ? Mode::Done : Mode::After; }
  bool after_value(unsigned char c);
  bool close(unsigned char c);
  bool whitespace(unsigned char c);
  bool number(unsigned char c);

  Mode mode_ = Mode::Start;
  Num num_ = Num::Int;
  bool key_ = false;        // the string being read is a key
  uint8_t hex_left_ = 0;
  uint8_t literal_ = 0;     // 0 true, 1 false, 2 null
  uint8_t literal_pos_ = 0;
  uint8_t ws_ = 0;          // whitespace bytes in a row
  uint8_t depth_ = 0;
  char stack_[kMaxDepth] = {};  // '{' or '['
};

}  // namespace hearth::sampling

#include "sampling/json_recognizer.h"

namespace hearth::sampling {
namespace {

bool is_ws(unsigned char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }
bool is_digit(unsigned char c) { return c >= '0' && c <= '9'; }
bool is_hex(unsigned char c) { return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }
constexpr const char* kLiterals[3] = {"true", "false", "null"};
constexpr uint8_t kLiteralLen[3] = {4, 5, 4};

}  // namespace

bool JsonRecognizer::can_end() const {
  if (mode_ == Mode::Done) return true;
  return mode_ == Mode::Number && depth_ == 0 &&
         (num_ == Num::Zero || num_ == Num::Int || num_ == Num::Frac || num_ == Num::ExpInt);
}

bool JsonRecognizer::whitespace(unsigned char c) {
  if (!is_ws(c)) return false;
  return ++ws_ <= kMaxWhitespace;
}

// The first byte of a value.
bool JsonRecognizer::value_start(unsigned char c) {
  ws_ = 0;
  switch (c) {
    case '{':
    case '[':
      if (depth_ == kMaxDepth) return false;
      stack_[depth_++] = static_cast<char>(c);
      mode_ = c == '{' ? Mode::KeyOrClose : Mode::ValueOrClose;
      return true;
    case '"':
      mode_ = Mode::String;
      key_ = false;
      return true;
    case '-':
      mode_ = Mode::Number, num_ = Num::Sign;
      return true;
    case 't':
    case 'f':
    case 'n':
      mode_ = Mode::Literal;
      literal_ = c == 't' ? 0 : c == 'f' ? 1 : 2;
      literal_pos_ = 1;
      return true;
    default:
      if (!is_digit(c)) return false;
      mode_ = Mode::Number, num_ = c == '0' ? Num::Zero : Num::Int;
      return true;
  }
}

// A number just ended at byte c: what the enclosing container expects next. At the top level nothing may
// follow (a caller that embeds this recognizer reads c itself, see can_end()).
bool JsonRecognizer::after_value(unsigned char c) {
  if (depth_ == 0) return false;
  mode_ = Mode::After;
  ws_ = 0;
  return feed(c);
}

bool JsonRecognizer::close(unsigned char c) {
  if (depth_ == 0 || stack_[depth_ - 1] != (c == '}' ? '{' : '[')) return false;
  --depth_;
  ws_ = 0;
  mode_ = depth_ == 0 ? Mode::Done : Mode::After;
  return true;
}

// Inside a number; a byte that cannot continue it ends it (when it may end there) and is read after it.
bool JsonRecognizer::number(unsigned char c) {
  const bool digit = is_digit(c);
  switch (num_) {
    case Num::Sign:
      if (!digit) return false;
      num_ = c == '0' ? Num::Zero : Num::Int;
      return true;
    case Num::Zero:
    case Num::Int:
      if (digit && num_ == Num::Int) return true;
      if (c == '.') return num_ = Num::Dot, true;
      if (c == 'e' || c == 'E') return num_ = Num::Exp, true;
      if (digit) return false;  // a leading zero
      return after_value(c);
    case Num::Dot:
      if (!digit) return false;
      num_ = Num::Frac;
      return true;
    case Num::Frac:
      if (digit) return true;
      if (c == 'e' || c == 'E') return num_ = Num::Exp, true;
      return after_value(c);
    case Num::Exp:
      if (c == '+' || c == '-') return num_ = Num::ExpSign, true;
      if (!digit) return false;
      num_ = Num::ExpInt;
      return true;
    case Num::ExpSign:
      if (!digit) return false;
      num_ = Num::ExpInt;
      return true;
    case Num::ExpInt:
      if (digit) return true;
      return after_value(c);
  }
  return false;
}

bool JsonRecognizer::feed(unsigned char c) {
  switch (mode_) {
    case Mode::Start:
      if (c == '{') return value_start(c);
      return whitespace(c);
    case Mode::ValueOrClose:
      if (c == ']') return close(c);
      [[fallthrough]];
    case Mode::Value:
      if (is_ws(c)) return whitespace(c);
      return value_start(c);
    case Mode::KeyOrClose:
      if (c == '}') return close(c);
      [[fallthrough]];
    case Mode::Key:
      if (is_ws(c)) return whitespace(c);
      if (c != '"') return false;
      ws_ = 0;
      mode_ = Mode::String;
      key_ = true;
      return true;
    case Mode::Colon:
      if (is_ws(c)) return whitespace(c);
      if (c != ':') return false;
      ws_ = 0;
      mode_ = Mode::Value;
      return true;
    case Mode::After:
      if (is_ws(c)) return whitespace(c);
      if (c == '}' || c == ']') return close(c);
      if (c != ',') return false;
      ws_ = 0;
      mode_ = stack_[depth_ - 1] == '{' ? Mode::Key : Mode::Value;
      return true;
    case Mode::String:
      if (c == '"') {
        if (key_)
          mode_ = Mode::Colon;
        else
          value_done();
        return true;
      }
      if (c == '\\') return mode_ = Mode::Escape, true;
      return c >= 0x20;  // control characters must be escaped; bytes of UTF-8 sequences pass
    case Mode::Escape:
      if (c == 'u') {
        mode_ = Mode::Unicode;
        hex_left_ = 4;
        return true;
      }
      if (c == '"' || c == '\\' || c == '/' || c == 'b' || c == 'f' || c == 'n' || c == 'r' || c == 't') {
        mode_ = Mode::String;
        return true;
      }
      return false;
    case Mode::Unicode:
      if (!is_hex(c)) return false;
      if (--hex_left_ == 0) mode_ = Mode::String;
      return true;
    case Mode::Number:
      return number(c);
    case Mode::Literal:
      if (static_cast<unsigned char>(kLiterals[literal_][literal_pos_]) != c) return false;
      if (++literal_pos_ == kLiteralLen[literal_]) value_done();
      return true;
    case Mode::Done:
      return false;
  }
  return false;
}

}  // namespace hearth::sampling

// Chat prompt text under construction, each byte marked as the template's own or as a message's, so that the
// tokenizer can recognize special tokens in the template's markers only (ChatPrompt::content).
#pragma once
#include <string>
#include <string_view>
#include <vector>

#include "hearth/chat.h"

namespace hearth {

class ChatText {
 public:
  ChatText() = default;
  // A string literal is template text; any other string must say which it is (tmpl / msg), so that message
  // text cannot pass for the template's by accident.
  ChatText(const char* literal) : ChatText(std::string_view(literal), false) {}  // NOLINT: implicit on purpose
  static ChatText tmpl(std::string_view text) { return ChatText(text, false); }
  static ChatText msg(std::string_view text) { return ChatText(text, true); }

  ChatText& operator+=(const ChatText& o) {
    text_ += o.text_;
    from_msg_.insert(from_msg_.end(), o.from_msg_.begin(), o.from_msg_.end());
    return *this;
  }
  friend ChatText operator+(ChatText a, const ChatText& b) { return a += b; }

  bool empty() const { return text_.empty(); }
  const std::string& text() const { return text_; }

  // Jinja's trim / Python's str.strip() over the whole text: ASCII whitespace at both ends.
  ChatText trimmed() const {
    const char* ws = " \t\n\r\f\v";
    const size_t b = text_.find_first_not_of(ws);
    if (b == std::string::npos) return {};
    const size_t e = text_.find_last_not_of(ws) + 1;
    ChatText out;
    out.text_ = text_.substr(b, e - b);
    out.from_msg_.assign(from_msg_.begin() + static_cast<std::ptrdiff_t>(b),
                         from_msg_.begin() + static_cast<std::ptrdiff_t>(e));
    return out;
  }

  ChatPrompt prompt() const {
    ChatPrompt p;
    p.text = text_;
    for (size_t i = 0; i < from_msg_.size();) {
      if (!from_msg_[i]) {
        ++i;
        continue;
      }
      size_t j = i;
      while (j < from_msg_.size() && from_msg_[j]) ++j;
      p.content.emplace_back(i, j);
      i = j;
    }
    return p;
  }

 private:
  ChatText(std::string_view text, bool from_msg) : text_(text), from_msg_(text.size(), from_msg) {}
  std::string text_;
  std::vector<bool> from_msg_;  // [text_.size()]
};

}  // namespace hearth

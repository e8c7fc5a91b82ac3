// Chat prompt formats of the common template families, recognized by their markers. Each renderer
// writes what the family's official Jinja template writes (content trimming, spaces, BOS/EOS included),
// keeping apart the template's text and the messages' (ChatText) so that only the former holds markers.
#include "hearth/chat.h"

#include <ctime>
#include <string_view>

#include "hearth/error.h"
#include "tokenizer/chat_text.h"

namespace hearth {
namespace {

using Messages = std::vector<ChatMessage>;

bool contains(std::string_view s, std::string_view what) { return s.find(what) != std::string_view::npos; }

// Qwen2-style templates write a system message of their own when the conversation has none:
// '<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n' as a string literal. Returns its text.
std::string chatml_default_system(const std::string& t) {
  const std::string_view open = "<|im_start|>system";
  for (size_t at = t.find(open); at != std::string::npos; at = t.find(open, at + 1)) {
    size_t p = at + open.size();
    if (t.compare(p, 2, "\\n") == 0) p += 2;  // the escape as written in the Jinja source
    else if (t.compare(p, 1, "\n") == 0) p += 1;
    else continue;
    size_t end = t.find("<|im_end|>", p);
    if (end == std::string::npos) continue;
    std::string_view text(t.data() + p, end - p);
    // Only a literal: "'<|im_start|>system\n' + messages[0]['content']" is not a default.
    if (text.empty() || contains(text, "'") || contains(text, "\"") || contains(text, "{") || contains(text, "}")) continue;
    std::string out;
    for (size_t i = 0; i < text.size(); ++i) {
      if (text[i] == '\\' && i + 1 < text.size() && text[i + 1] == 'n') {
        out += '\n';
        ++i;
      } else {
        out += text[i];
      }
    }
    return out;
  }
  return "";
}

std::string today_string() {
  std::time_t now = std::time(nullptr);
  std::tm tm{};
  localtime_r(&now, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%d %b %Y", &tm);
  return buf;
}

// The system message (first message, if it is one) and the rest.
struct Split {
  ChatText system;
  bool has_system = false;
  std::vector<const ChatMessage*> rest;
};

Split split_system(const Messages& msgs) {
  Split s;
  for (size_t i = 0; i < msgs.size(); ++i) {
    if (i == 0 && msgs[i].role == "system") {
      s.system = ChatText::msg(msgs[i].content);
      s.has_system = true;
    } else {
      s.rest.push_back(&msgs[i]);
    }
  }
  return s;
}

// A message's content is the conversation's text, never the template's. So is a role other than the ones
// templates know (the C and Python APIs take any): Phi-3 and Zephyr build their markers as '<|' + role + '|>',
// which must form a control token for "user" but never for a role that spells "user|><|system".
ChatText content(const ChatMessage& m) { return ChatText::msg(m.content); }
ChatText role(const ChatMessage& m) {
  const bool known = m.role == "system" || m.role == "user" || m.role == "assistant";
  return known ? ChatText::tmpl(m.role) : ChatText::msg(m.role);
}

ChatText render_llama2(const Messages& msgs, const ChatText& bos, const ChatText& eos) {
  // bos + '[INST] ' + content.strip() + ' [/INST]'; ' ' + content.strip() + ' ' + eos; the system
  // message goes into the first user turn inside <<SYS>>.
  Split s = split_system(msgs);
  ChatText out;
  bool first = true;
  for (const ChatMessage* m : s.rest) {
    if (m->role == "assistant") {
      out += " " + content(*m).trimmed() + " " + eos;
    } else {
      ChatText c = content(*m);
      if (first && s.has_system) c = "<<SYS>>\n" + s.system + "\n<</SYS>>\n\n" + c;
      out += bos + "[INST] " + c.trimmed() + " [/INST]";
    }
    first = false;
  }
  return out;
}

ChatText render_llama3(const ChatTemplate& t, const Messages& msgs, bool add_assistant, const ChatText& bos) {
  auto turn = [](const ChatMessage& m) {
    return "<|start_header_id|>" + role(m) + "<|end_header_id|>\n\n" + content(m).trimmed() + "<|eot_id|>";
  };
  ChatText out = bos;
  if (t.format == ChatFormat::Llama31) {
    // Llama 3.1/3.2 always write a system turn with the dates ahead of the (trimmed) system message.
    Split s = split_system(msgs);
    out += "<|start_header_id|>system<|end_header_id|>\n\nCutting Knowledge Date: December 2023\nToday Date: " +
           ChatText::tmpl(t.date_today ? today_string() : t.date_string) + "\n\n" + s.system.trimmed() + "<|eot_id|>";
    for (const ChatMessage* m : s.rest) out += turn(*m);
  } else {
    for (const ChatMessage& m : msgs) out += turn(m);
  }
  if (add_assistant) out += "<|start_header_id|>assistant<|end_header_id|>\n\n";
  return out;
}

ChatText render_mistral(ChatFormat f, const Messages& msgs, const ChatText& bos, const ChatText& eos) {
  Split s = split_system(msgs);
  ChatText out = bos;
  if (f == ChatFormat::MistralV7 || f == ChatFormat::MistralV7Tekken) {
    // Every message in order; the system message has its own tags.
    const ChatText sp = f == ChatFormat::MistralV7 ? " " : "";
    for (const ChatMessage& m : msgs) {
      if (m.role == "system") out += "[SYSTEM_PROMPT]" + sp + content(m) + "[/SYSTEM_PROMPT]";
      else if (m.role == "assistant") out += sp + content(m) + eos;
      else out += "[INST]" + sp + content(m) + "[/INST]";
    }
    return out;
  }
  // v0.1 and v1 put the system message in the first turn, v3 in the last one (loop.first / loop.last),
  // and only when that turn is the user's.
  size_t system_turn = s.rest.size();
  if (!s.rest.empty()) {
    const bool last = f == ChatFormat::MistralV3 || f == ChatFormat::MistralV3Tekken;
    const size_t i = last ? s.rest.size() - 1 : 0;
    if (s.rest[i]->role != "assistant") system_turn = i;
  }
  for (size_t i = 0; i < s.rest.size(); ++i) {
    const ChatMessage& m = *s.rest[i];
    if (m.role == "assistant") {
      switch (f) {
        case ChatFormat::Mistral: out += content(m) + eos; break;
        case ChatFormat::MistralV1: out += " " + content(m) + eos; break;
        case ChatFormat::MistralV3: out += " " + content(m).trimmed() + eos; break;
        default: out += content(m) + eos; break;  // v3-tekken
      }
      continue;
    }
    const ChatText c = (i == system_turn && s.has_system) ? s.system + "\n\n" + content(m) : content(m);
    switch (f) {
      case ChatFormat::Mistral: out += "[INST] " + c + " [/INST]"; break;
      case ChatFormat::MistralV1: out += " [INST] " + c + " [/INST]"; break;
      case ChatFormat::MistralV3: out += "[INST] " + c + "[/INST]"; break;
      default: out += "[INST]" + c + "[/INST]"; break;  // v3-tekken
    }
  }
  return out;
}

ChatText render_gemma(const Messages& msgs, bool add_assistant, const ChatText& bos) {
  // Gemma has no system role: Gemma 3's template puts the system message and "\n\n" ahead of the first
  // turn after it; turns are trimmed.
  Split s = split_system(msgs);
  ChatText out = bos;
  bool first = true;
  for (const ChatMessage* m : s.rest) {
    const ChatText r = m->role == "assistant" ? ChatText("model") : role(*m);
    out += "<start_of_turn>" + r + "\n";
    if (first && s.has_system) out += s.system + "\n\n";
    out += content(*m).trimmed() + "<end_of_turn>\n";
    first = false;
  }
  if (add_assistant) out += "<start_of_turn>model\n";
  return out;
}

ChatText render_chatml(const ChatTemplate& t, const Messages& msgs, bool add_assistant) {
  ChatText out;
  if (!t.default_system.empty() && (msgs.empty() || msgs[0].role != "system"))
    out += "<|im_start|>system\n" + ChatText::tmpl(t.default_system) + "<|im_end|>\n";
  for (const ChatMessage& m : msgs) out += "<|im_start|>" + role(m) + "\n" + content(m) + "<|im_end|>\n";
  if (add_assistant) out += "<|im_start|>assistant\n";
  return out;
}

ChatText render_phi4(const Messages& msgs) {
  // The official template opens the assistant turn right after each user turn.
  ChatText out;
  for (const ChatMessage& m : msgs) {
    if (m.role == "assistant") out += content(m) + "<|im_end|>";
    else if (m.role == "user") out += "<|im_start|>user<|im_sep|>" + content(m) + "<|im_end|><|im_start|>assistant<|im_sep|>";
    else out += "<|im_start|>" + role(m) + "<|im_sep|>" + content(m) + "<|im_end|>";
  }
  return out;
}

ChatText render_phi3_zephyr(const ChatTemplate& t, const Messages& msgs, bool add_assistant, const ChatText& bos,
                            const ChatText& eos) {
  // '<|' + role + '|>\n' + content + end; Phi-3 ends a prompt without the reply header with eos.
  const ChatText end = t.format == ChatFormat::Phi3 ? ChatText("<|end|>") : eos;
  ChatText out = bos;
  for (const ChatMessage& m : msgs) out += "<|" + role(m) + "|>\n" + content(m) + end + "\n";
  if (add_assistant) out += "<|assistant|>\n";
  else if (t.format == ChatFormat::Phi3) out += eos;
  return out;
}

ChatText render_plain(const Messages& msgs, bool add_assistant) {
  ChatText out;
  for (const ChatMessage& m : msgs) {
    const ChatText r = m.role == "system" ? ChatText("System") : m.role == "user" ? ChatText("User")
                       : m.role == "assistant" ? ChatText("Assistant") : role(m);
    out += r + ": " + content(m) + "\n";
  }
  if (add_assistant) out += "Assistant:";
  return out;
}

ChatText render(const ChatTemplate& t, const Messages& msgs, bool add_assistant, const std::string& bos_text,
                const std::string& eos_text) {
  const ChatText bos = ChatText::tmpl(bos_text), eos = ChatText::tmpl(eos_text);
  const ChatText opt_bos = t.writes_bos ? bos : ChatText();
  switch (t.format) {
    case ChatFormat::Llama2: return render_llama2(msgs, bos, eos);
    case ChatFormat::Llama3:
    case ChatFormat::Llama31: return render_llama3(t, msgs, add_assistant, bos);
    case ChatFormat::Mistral:
    case ChatFormat::MistralV1:
    case ChatFormat::MistralV3:
    case ChatFormat::MistralV3Tekken:
    case ChatFormat::MistralV7:
    case ChatFormat::MistralV7Tekken: return render_mistral(t.format, msgs, bos, eos);
    case ChatFormat::ChatML: return opt_bos + render_chatml(t, msgs, add_assistant);
    case ChatFormat::Phi3:
    case ChatFormat::Zephyr: return render_phi3_zephyr(t, msgs, add_assistant, opt_bos, eos);
    case ChatFormat::Phi4: return opt_bos + render_phi4(msgs);
    case ChatFormat::Gemma: return render_gemma(msgs, add_assistant, bos);
    case ChatFormat::Plain: return render_plain(msgs, add_assistant);
  }
  return render_plain(msgs, add_assistant);
}

}  // namespace

ChatTemplate chat_template_parse(const std::string& t) {
  ChatTemplate ct;
  auto has = [&](std::string_view s) { return contains(t, s); };
  ct.writes_bos = has("bos_token");
  if (t.empty()) {
    ct.format = ChatFormat::Plain;
  } else if (has("<|start_header_id|>")) {
    ct.format = has("Cutting Knowledge Date") ? ChatFormat::Llama31 : ChatFormat::Llama3;
    ct.date_today = has("strftime_now");
  } else if (has("<|im_start|>")) {
    ct.format = has("<|im_sep|>") ? ChatFormat::Phi4 : ChatFormat::ChatML;
    if (ct.format == ChatFormat::ChatML) ct.default_system = chatml_default_system(t);
  } else if (has("<start_of_turn>")) {
    ct.format = ChatFormat::Gemma;
  } else if (has("<|end|>") && (has("<|user|>") || has("<|assistant|>"))) {
    ct.format = ChatFormat::Phi3;  // Phi-3-small builds '<|' + role + '|>' and has only <|assistant|> literally
  } else if (has("<|user|>") || has("'<|' + message['role'] + '|>'")) {
    ct.format = ChatFormat::Zephyr;
  } else if (has("[INST]")) {
    if (has("<<SYS>>")) ct.format = ChatFormat::Llama2;
    else if (has("[SYSTEM_PROMPT]"))
      ct.format = has("[SYSTEM_PROMPT] ") ? ChatFormat::MistralV7 : ChatFormat::MistralV7Tekken;
    else if (has(" [INST]")) ct.format = ChatFormat::MistralV1;      // ' [INST] '
    else if (has(" [/INST]")) ct.format = ChatFormat::Mistral;       // '[INST] ' + ... + ' [/INST]'
    else if (has("[INST]\"") || has("[INST]'")) ct.format = ChatFormat::MistralV3Tekken;  // "[INST]" + ...
    else ct.format = ChatFormat::MistralV3;                          // "[INST] " + ... + "[/INST]"
  } else {
    ct.format = ChatFormat::Plain;
  }
  return ct;
}

ChatFormat chat_format_detect(const std::string& t) { return chat_template_parse(t).format; }

const char* chat_format_name(ChatFormat f) {
  switch (f) {
    case ChatFormat::Llama2: return "llama2";
    case ChatFormat::Llama3: return "llama3";
    case ChatFormat::Llama31: return "llama3.1";
    case ChatFormat::Mistral: return "mistral";
    case ChatFormat::MistralV1: return "mistral-v1";
    case ChatFormat::MistralV3: return "mistral-v3";
    case ChatFormat::MistralV3Tekken: return "mistral-v3-tekken";
    case ChatFormat::MistralV7: return "mistral-v7";
    case ChatFormat::MistralV7Tekken: return "mistral-v7-tekken";
    case ChatFormat::ChatML: return "chatml";
    case ChatFormat::Phi3: return "phi3";
    case ChatFormat::Phi4: return "phi4";
    case ChatFormat::Zephyr: return "zephyr";
    case ChatFormat::Gemma: return "gemma";
    case ChatFormat::Plain: return "plain";
  }
  return "plain";
}

ChatFormat chat_format_from_name(const std::string& name) {
  std::string known;
  for (int i = 0; i <= static_cast<int>(ChatFormat::Plain); ++i) {
    auto f = static_cast<ChatFormat>(i);
    if (name == chat_format_name(f)) return f;
    known += known.empty() ? "" : ", ";
    known += chat_format_name(f);
  }
  throw Error("unknown chat template '" + name + "' (known: " + known + ")");
}

ChatPrompt chat_render_prompt(const ChatTemplate& t, const Messages& msgs, bool add_assistant, const std::string& bos,
                              const std::string& eos) {
  return render(t, msgs, add_assistant, bos, eos).prompt();
}

ChatPrompt chat_render_prompt(ChatFormat f, const Messages& msgs, bool add_assistant, const std::string& bos,
                              const std::string& eos) {
  ChatTemplate t;
  t.format = f;
  return chat_render_prompt(t, msgs, add_assistant, bos, eos);
}

std::string chat_render(const ChatTemplate& t, const Messages& msgs, bool add_assistant, const std::string& bos,
                        const std::string& eos) {
  return render(t, msgs, add_assistant, bos, eos).text();
}

std::string chat_render(ChatFormat f, const Messages& msgs, bool add_assistant, const std::string& bos,
                        const std::string& eos) {
  return chat_render_prompt(f, msgs, add_assistant, bos, eos).text;
}

}  // namespace hearth

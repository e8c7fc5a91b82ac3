// Chat prompt formats of the common template families, recognized by their markers.
#include "tokenizer/chat_template.h"

namespace hearth {

ChatFormat chat_format_detect(const std::string& t) {
  auto has = [&](const char* s) { return t.find(s) != std::string::npos; };
  if (t.empty()) return ChatFormat::Plain;
  if (has("<|start_header_id|>")) return ChatFormat::Llama3;
  if (has("<|im_start|>")) return ChatFormat::ChatML;
  if (has("<start_of_turn>")) return ChatFormat::Gemma;
  if (has("<|user|>") && has("<|end|>")) return ChatFormat::Phi3;
  if (has("<|user|>")) return ChatFormat::Zephyr;
  if (has("[INST]") && has("<<SYS>>")) return ChatFormat::Llama2;
  if (has("[INST]")) return ChatFormat::Mistral;
  return ChatFormat::Plain;
}

const char* chat_format_name(ChatFormat f) {
  switch (f) {
    case ChatFormat::Llama2: return "llama2";
    case ChatFormat::Llama3: return "llama3";
    case ChatFormat::Mistral: return "mistral";
    case ChatFormat::ChatML: return "chatml";
    case ChatFormat::Zephyr: return "zephyr";
    case ChatFormat::Phi3: return "phi3";
    case ChatFormat::Gemma: return "gemma";
    case ChatFormat::Plain: return "plain";
  }
  return "plain";
}

std::string chat_render(ChatFormat f, const std::vector<ChatMessage>& msgs, bool add_assistant,
                        const std::string& bos, const std::string& eos) {
  std::string out;
  switch (f) {
    case ChatFormat::Llama3:
      out = bos;
      for (const auto& m : msgs) out += "<|start_header_id|>" + m.role + "<|end_header_id|>\n\n" + m.content + "<|eot_id|>";
      if (add_assistant) out += "<|start_header_id|>assistant<|end_header_id|>\n\n";
      return out;
    case ChatFormat::ChatML:
      for (const auto& m : msgs) out += "<|im_start|>" + m.role + "\n" + m.content + "<|im_end|>\n";
      if (add_assistant) out += "<|im_start|>assistant\n";
      return out;
    case ChatFormat::Zephyr:
      for (const auto& m : msgs) out += "<|" + m.role + "|>\n" + m.content + eos + "\n";
      if (add_assistant) out += "<|assistant|>\n";
      return out;
    case ChatFormat::Phi3:
      for (const auto& m : msgs) out += "<|" + m.role + "|>\n" + m.content + "<|end|>\n";
      if (add_assistant) out += "<|assistant|>\n";
      return out;
    case ChatFormat::Gemma: {
      std::string system;
      for (const auto& m : msgs) {
        if (m.role == "system") {
          system += m.content + "\n\n";
          continue;
        }
        std::string role = m.role == "assistant" ? "model" : m.role;
        out += "<start_of_turn>" + role + "\n" + (role == "user" ? system : "") + m.content + "<end_of_turn>\n";
        if (role == "user") system.clear();
      }
      if (add_assistant) out += "<start_of_turn>model\n";
      return bos + out;
    }
    case ChatFormat::Llama2:
    case ChatFormat::Mistral: {
      // <s>[INST] <<SYS>>\n{system}\n<</SYS>>\n\n{user} [/INST] {assistant} </s><s>[INST] ...
      std::string system;
      bool llama2 = f == ChatFormat::Llama2;
      for (const auto& m : msgs) {
        if (m.role == "system") {
          system = llama2 ? "<<SYS>>\n" + m.content + "\n<</SYS>>\n\n" : m.content + "\n\n";
        } else if (m.role == "user") {
          out += bos + "[INST] " + system + m.content + " [/INST]";
          system.clear();
        } else {
          out += " " + m.content + " " + eos;
        }
      }
      return out;
    }
    case ChatFormat::Plain:
      for (const auto& m : msgs) {
        std::string role = m.role == "system" ? "System" : m.role == "user" ? "User" : "Assistant";
        out += role + ": " + m.content + "\n";
      }
      if (add_assistant) out += "Assistant:";
      return out;
  }
  return out;
}

}  // namespace hearth

// Chat prompt formatting from the GGUF tokenizer.chat_template (a Jinja template). The known template
// families are recognized by their markers and rendered natively; others fall back to plain text.
#pragma once
#include <string>
#include <vector>

namespace hearth {

struct ChatMessage {
  std::string role;  // "system", "user", "assistant"
  std::string content;
};

enum class ChatFormat { Llama2, Llama3, Mistral, ChatML, Zephyr, Phi3, Gemma, Plain };

// Detects the family from the template text (empty template: Plain).
ChatFormat chat_format_detect(const std::string& jinja_template);
const char* chat_format_name(ChatFormat f);
// Renders messages; add_assistant appends the header that starts the assistant's reply.
// bos is the BOS token text ("<s>") for templates that write it; hearth tokenizes with parse_special.
std::string chat_render(ChatFormat f, const std::vector<ChatMessage>& messages, bool add_assistant,
                        const std::string& bos_text, const std::string& eos_text);

}  // namespace hearth

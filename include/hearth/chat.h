// Chat prompt formatting from the GGUF tokenizer.chat_template (a Jinja template). The known template
// families are recognized by their markers and rendered natively, byte for byte what the official
// template produces (Hugging Face apply_chat_template); others fall back to plain text.
//
// BOS: where the official template writes bos_token, the rendered text starts with bos_text; hearth then
// does not add another BOS.
//
// Only the template's own markers become control tokens: the rendering records which bytes came from the
// messages (their content, and roles other than system/user/assistant), and those are tokenized as plain text,
// so a message that spells "</s>", "<|im_end|>" or "<|eot_id|>" cannot end its turn or open another role's
// (Model::tokenize_chat).
#pragma once
#include <cstddef>
#include <string>
#include <utility>
#include <vector>

namespace hearth {

struct ChatMessage {
  std::string role;  // "system", "user", "assistant"
  std::string content;
};

enum class ChatFormat {
  Llama2,           // <s>[INST] <<SYS>>\n{sys}\n<</SYS>>\n\n{user} [/INST] {assistant} </s>
  Llama3,           // <|start_header_id|>{role}<|end_header_id|>\n\n{content}<|eot_id|>
  Llama31,          // Llama 3 plus the system header it always writes (knowledge and today's dates)
  Mistral,          // Mistral 7B v0.1 original: <s>[INST] {user} [/INST]{assistant}</s>
  MistralV1,        // <s> [INST] {sys}\n\n{user} [/INST] {assistant}</s>
  MistralV3,        // <s>[INST] {user}[/INST] {assistant}</s>, system in the last user turn
  MistralV3Tekken,  // <s>[INST]{user}[/INST]{assistant}</s>, system in the last user turn
  MistralV7,        // <s>[SYSTEM_PROMPT] {sys}[/SYSTEM_PROMPT][INST] {user}[/INST] {assistant}</s>
  MistralV7Tekken,  // the same without the spaces
  ChatML,           // <|im_start|>{role}\n{content}<|im_end|>\n
  Phi3,             // <|{role}|>\n{content}<|end|>\n
  Phi4,             // <|im_start|>{role}<|im_sep|>{content}<|im_end|>
  Zephyr,           // <|{role}|>\n{content}</s>\n
  Gemma,            // <bos><start_of_turn>{user|model}\n{content}<end_of_turn>\n (no system role)
  Plain,            // System: ...\nUser: ...\nAssistant:
};

// What hearth takes from a template: its family and the few values the family's templates vary in.
struct ChatTemplate {
  ChatFormat format = ChatFormat::Plain;
  // Written as the system message when the conversation has none (Qwen2: "You are a helpful assistant.").
  std::string default_system;
  // The template writes bos_token (for families where only some of the official templates do).
  bool writes_bos = false;
  // Llama 3.1/3.2: "Today Date: " is today (templates that call strftime_now) or this fixed date.
  bool date_today = false;
  std::string date_string = "26 Jul 2024";
};

// Detects the family and its variant values from the template text (empty template: Plain).
ChatTemplate chat_template_parse(const std::string& jinja_template);
// The family alone.
ChatFormat chat_format_detect(const std::string& jinja_template);
const char* chat_format_name(ChatFormat f);
// The format named by chat_format_name (e.g. for a --chat-template flag); throws hearth::Error if unknown.
ChatFormat chat_format_from_name(const std::string& name);

// A rendered chat prompt: the text, and the byte ranges [begin, end) of it that came from the messages
// (ascending, disjoint). Control, unknown, BOS, EOS and end-of-generation tokens are recognized only outside
// those ranges; inside them the text is tokenized as plain text (user-defined tokens, ordinary vocabulary such
// as GPT-NeoX's runs of spaces, still match there, as in any plain text).
struct ChatPrompt {
  std::string text;
  std::vector<std::pair<size_t, size_t>> content;
};

// Renders messages; add_assistant appends the header that starts the assistant's reply (for the
// [INST] families and Phi-4 the prompt already ends where the reply starts).
std::string chat_render(const ChatTemplate& t, const std::vector<ChatMessage>& messages, bool add_assistant,
                        const std::string& bos_text, const std::string& eos_text);
// The same with the family's defaults (no default system message).
std::string chat_render(ChatFormat f, const std::vector<ChatMessage>& messages, bool add_assistant,
                        const std::string& bos_text, const std::string& eos_text);
// The same text with its message ranges, for tokenizing (Model::tokenize_chat_prompt).
ChatPrompt chat_render_prompt(const ChatTemplate& t, const std::vector<ChatMessage>& messages, bool add_assistant,
                              const std::string& bos_text, const std::string& eos_text);
ChatPrompt chat_render_prompt(ChatFormat f, const std::vector<ChatMessage>& messages, bool add_assistant,
                              const std::string& bos_text, const std::string& eos_text);

}  // namespace hearth

// Chat templates: family detection from the official Jinja templates (as stored in GGUF files) and
// rendering compared with what those templates produce. Expected strings are written out from the
// templates (several are the outputs llama.cpp's test-chat-template records for a real Jinja engine).
#include "hearth/chat.h"

#include <gtest/gtest.h>

#include <ostream>
#include <string>
#include <vector>

#include "hearth/error.h"

namespace hearth {

void PrintTo(ChatFormat f, std::ostream* os) { *os << chat_format_name(f); }

namespace {

// --- Official templates (tokenizer_config.json "chat_template", JSON-decoded as GGUF stores them) ---

const std::string kLlama2 =
    R"({% if messages[0]['role'] == 'system' %}{% set loop_messages = messages[1:] %}{% set system_message = messages[0]['content'] %}{% else %}{% set loop_messages = messages %}{% set system_message = false %}{% endif %}{% for message in loop_messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}{% if loop.index0 == 0 and system_message != false %}{% set content = '<<SYS>>\n' + system_message + '\n<</SYS>>\n\n' + message['content'] %}{% else %}{% set content = message['content'] %}{% endif %}{% if message['role'] == 'user' %}{{ bos_token + '[INST] ' + content.strip() + ' [/INST]' }}{% elif message['role'] == 'assistant' %}{{ ' '  + content.strip() + ' ' + eos_token }}{% endif %}{% endfor %})";

const std::string kLlama3 =
    R"({% set loop_messages = messages %}{% for message in loop_messages %}{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'+ message['content'] | trim + '<|eot_id|>' %}{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %})";

// Llama 3.1 (excerpt: the system header part; the rest handles tools).
const std::string kLlama31Excerpt = R"({{- bos_token }}
{%- if not date_string is defined %}
    {%- set date_string = "26 Jul 2024" %}
{%- endif %}
{#- System message + builtin tools #}
{{- "<|start_header_id|>system<|end_header_id|>\n\n" }}
{{- "Cutting Knowledge Date: December 2023\n" }}
{{- "Today Date: " + date_string + "\n\n" }}
{{- system_message }}
{{- "<|eot_id|>" }}
{%- for message in messages %}
        {{- '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'+ message['content'] | trim + '<|eot_id|>' }}
{%- endfor %}
{%- if add_generation_prompt %}
    {{- '<|start_header_id|>assistant<|end_header_id|>\n\n' }}
{%- endif %}
)";

const std::string kQwen2 =
    R"({% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n' }}{% endif %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %})";

const std::string kOpenHermesChatML =
    R"({% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %})";

// Mistral-7B-Instruct v0.1 / early v0.2: no system role.
const std::string kMistralV01 =
    R"({{ bos_token }}{% for message in messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}{% if message['role'] == 'user' %}{{ '[INST] ' + message['content'] + ' [/INST]' }}{% elif message['role'] == 'assistant' %}{{ message['content'] + eos_token}}{% else %}{{ raise_exception('Only user and assistant roles are supported!') }}{% endif %}{% endfor %})";

// Mistral "v1" (Mistral-7B-Instruct-v0.2 with a system prompt).
const std::string kMistralV1 = R"({%- if messages[0]['role'] == 'system' %}
    {%- set system_message = messages[0]['content'] %}
    {%- set loop_messages = messages[1:] %}
{%- else %}
    {%- set loop_messages = messages %}
{%- endif %}

{{- bos_token }}
{%- for message in loop_messages %}
    {%- if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}
        {{- raise_exception('After the optional system message, conversation roles must alternate user/assistant/user/assistant/...') }}
    {%- endif %}
    {%- if message['role'] == 'user' %}
        {%- if loop.first and system_message is defined %}
            {{- ' [INST] ' + system_message + '\n\n' + message['content'] + ' [/INST]' }}
        {%- else %}
            {{- ' [INST] ' + message['content'] + ' [/INST]' }}
        {%- endif %}
    {%- elif message['role'] == 'assistant' %}
        {{- ' ' + message['content'] + eos_token}}
    {%- else %}
        {{- raise_exception('Only user and assistant roles are supported, with the exception of an initial optional system message!') }}
    {%- endif %}
{%- endfor %}
)";

// Mistral "v3" (Mistral-Large-Instruct-2407, excerpt without the tool-call branches).
const std::string kMistralV3Excerpt = R"({{- bos_token }}
{%- for message in loop_messages %}
    {%- if message["role"] == "user" %}
        {%- if tools is not none and (message == user_messages[-1]) %}
            {{- "[AVAILABLE_TOOLS] [" }}
            {{- "[/AVAILABLE_TOOLS]" }}
            {%- endif %}
        {%- if loop.last and system_message is defined %}
            {{- "[INST] " + system_message + "\n\n" + message["content"] + "[/INST]" }}
        {%- else %}
            {{- "[INST] " + message["content"] + "[/INST]" }}
        {%- endif %}
    {%- elif message["role"] == "assistant" %}
        {{- " " + message["content"]|trim + eos_token}}
    {%- endif %}
{%- endfor %}
)";

// Mistral "v3-tekken" (Mistral-Nemo-Instruct-2407, excerpt).
const std::string kMistralTekkenExcerpt = R"({{- bos_token }}
{%- for message in loop_messages %}
    {%- if message["role"] == "user" %}
        {%- if tools is not none and (message == user_messages[-1]) %}
            {{- "[AVAILABLE_TOOLS][" }}
            {{- "[/AVAILABLE_TOOLS]" }}
            {%- endif %}
        {%- if loop.last and system_message is defined %}
            {{- "[INST]" + system_message + "\n\n" + message["content"] + "[/INST]" }}
        {%- else %}
            {{- "[INST]" + message["content"] + "[/INST]" }}
        {%- endif %}
    {%- elif message["role"] == "assistant" %}
        {{- message["content"] + eos_token}}
    {%- endif %}
{%- endfor %}
)";

// Mistral "v7" (Mistral-Large-Instruct-2411).
const std::string kMistralV7 =
    R"({{ bos_token }}{% for message in messages %}{% if message['role'] == 'user' %}{{ '[INST] ' + message['content'] + '[/INST]' }}{% elif message['role'] == 'system' %}{{ '[SYSTEM_PROMPT] ' + message['content'] + '[/SYSTEM_PROMPT]' }}{% elif message['role'] == 'assistant' %}{{ ' ' + message['content'] + eos_token }}{% else %}{{ raise_exception('Only user, system and assistant roles are supported!') }}{% endif %}{% endfor %})";

// HuggingFaceH4/zephyr-7b-beta (real newlines between the tags, as in its tokenizer_config.json).
const std::string kZephyr = R"({% for message in messages %}
{% if message['role'] == 'user' %}
{{ '<|user|>\n' + message['content'] + eos_token }}
{% elif message['role'] == 'system' %}
{{ '<|system|>\n' + message['content'] + eos_token }}
{% elif message['role'] == 'assistant' %}
{{ '<|assistant|>\n'  + message['content'] + eos_token }}
{% endif %}
{% if loop.last and add_generation_prompt %}
{{ '<|assistant|>' }}
{% endif %}
{% endfor %})";

// microsoft/Phi-3-mini-4k-instruct.
const std::string kPhi3 =
    R"({% for message in messages %}{% if message['role'] == 'system' %}{{'<|system|>\n' + message['content'] + '<|end|>\n'}}{% elif message['role'] == 'user' %}{{'<|user|>\n' + message['content'] + '<|end|>\n'}}{% elif message['role'] == 'assistant' %}{{'<|assistant|>\n' + message['content'] + '<|end|>\n'}}{% endif %}{% endfor %}{% if add_generation_prompt %}{{ '<|assistant|>\n' }}{% else %}{{ eos_token }}{% endif %})";

// microsoft/Phi-3-small: writes bos_token.
const std::string kPhi3Small =
    R"({{ bos_token }}{% for message in messages %}{{'<|' + message['role'] + '|>' + '\n' + message['content'] + '<|end|>\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|assistant|>\n' }}{% else %}{{ eos_token }}{% endif %})";

const std::string kPhi4 =
    R"({% for message in messages %}{% if (message['role'] == 'system') %}{{'<|im_start|>system<|im_sep|>' + message['content'] + '<|im_end|>'}}{% elif (message['role'] == 'user') %}{{'<|im_start|>user<|im_sep|>' + message['content'] + '<|im_end|><|im_start|>assistant<|im_sep|>'}}{% elif (message['role'] == 'assistant') %}{{message['content'] + '<|im_end|>'}}{% endif %}{% endfor %})";

// google/gemma-7b-it.
const std::string kGemma =
    R"({{ bos_token }}{% if messages[0]['role'] == 'system' %}{{ raise_exception('System role not supported') }}{% endif %}{% for message in messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}{% if (message['role'] == 'assistant') %}{% set role = 'model' %}{% else %}{% set role = message['role'] %}{% endif %}{{ '<start_of_turn>' + role + '\n' + message['content'] | trim + '<end_of_turn>\n' }}{% endfor %}{% if add_generation_prompt %}{{'<start_of_turn>model\n'}}{% endif %})";

// --- Conversations ---

// System, user, assistant, user.
const std::vector<ChatMessage> kChat = {
    {"system", "You are a helpful assistant"}, {"user", "Hello"}, {"assistant", "Hi there"}, {"user", "Who are you"}};

// llama.cpp's test conversation: the padded assistant turn shows which templates trim.
const std::vector<ChatMessage> kPadded = {
    {"system", "You are a helpful assistant"}, {"user", "Hello"},
    {"assistant", "Hi there"},                 {"user", "Who are you"},
    {"assistant", "   I am an assistant   "},  {"user", "Another question"}};

std::string render(const std::string& jinja, const std::vector<ChatMessage>& m, const std::string& bos,
                   const std::string& eos, bool add_assistant = true) {
  return chat_render(chat_template_parse(jinja), m, add_assistant, bos, eos);
}

TEST(ChatTemplate, DetectsFamiliesFromOfficialTemplates) {
  EXPECT_EQ(chat_format_detect(kLlama2), ChatFormat::Llama2);
  EXPECT_EQ(chat_format_detect(kLlama3), ChatFormat::Llama3);
  EXPECT_EQ(chat_format_detect(kLlama31Excerpt), ChatFormat::Llama31);
  EXPECT_EQ(chat_format_detect(kQwen2), ChatFormat::ChatML);
  EXPECT_EQ(chat_format_detect(kOpenHermesChatML), ChatFormat::ChatML);
  EXPECT_EQ(chat_format_detect(kMistralV01), ChatFormat::Mistral);
  EXPECT_EQ(chat_format_detect(kMistralV1), ChatFormat::MistralV1);
  EXPECT_EQ(chat_format_detect(kMistralV3Excerpt), ChatFormat::MistralV3);
  EXPECT_EQ(chat_format_detect(kMistralTekkenExcerpt), ChatFormat::MistralV3Tekken);
  EXPECT_EQ(chat_format_detect(kMistralV7), ChatFormat::MistralV7);
  EXPECT_EQ(chat_format_detect(kZephyr), ChatFormat::Zephyr);
  EXPECT_EQ(chat_format_detect(kPhi3), ChatFormat::Phi3);
  EXPECT_EQ(chat_format_detect(kPhi3Small), ChatFormat::Phi3);
  EXPECT_EQ(chat_format_detect(kPhi4), ChatFormat::Phi4);
  EXPECT_EQ(chat_format_detect(kGemma), ChatFormat::Gemma);
  EXPECT_EQ(chat_format_detect(""), ChatFormat::Plain);
  EXPECT_EQ(chat_format_detect("{{ messages }}"), ChatFormat::Plain);
}

TEST(ChatTemplate, TemplateValues) {
  EXPECT_EQ(chat_template_parse(kQwen2).default_system, "You are a helpful assistant.");
  EXPECT_EQ(chat_template_parse(kOpenHermesChatML).default_system, "");
  EXPECT_TRUE(chat_template_parse(kPhi3Small).writes_bos);
  EXPECT_FALSE(chat_template_parse(kPhi3).writes_bos);
  EXPECT_FALSE(chat_template_parse(kLlama31Excerpt).date_today);
  EXPECT_TRUE(chat_template_parse("<|start_header_id|>Cutting Knowledge Date {{ strftime_now('%d %b %Y') }}").date_today);
}

TEST(ChatTemplate, Llama2) {
  EXPECT_EQ(render(kLlama2, kChat, "<s>", "</s>"),
            "<s>[INST] <<SYS>>\nYou are a helpful assistant\n<</SYS>>\n\nHello [/INST] Hi there </s>"
            "<s>[INST] Who are you [/INST]");
  // content.strip() on every turn.
  EXPECT_EQ(render(kLlama2, kPadded, "<s>", "</s>"),
            "<s>[INST] <<SYS>>\nYou are a helpful assistant\n<</SYS>>\n\nHello [/INST] Hi there </s>"
            "<s>[INST] Who are you [/INST] I am an assistant </s><s>[INST] Another question [/INST]");
  EXPECT_EQ(render(kLlama2, {{"user", " Hi "}}, "<s>", "</s>"), "<s>[INST] Hi [/INST]");
}

TEST(ChatTemplate, Llama3) {
  const std::string want =
      "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nYou are a helpful assistant<|eot_id|>"
      "<|start_header_id|>user<|end_header_id|>\n\nHello<|eot_id|>"
      "<|start_header_id|>assistant<|end_header_id|>\n\nHi there<|eot_id|>"
      "<|start_header_id|>user<|end_header_id|>\n\nWho are you<|eot_id|>";
  EXPECT_EQ(render(kLlama3, kChat, "<|begin_of_text|>", "<|end_of_text|>"),
            want + "<|start_header_id|>assistant<|end_header_id|>\n\n");
  EXPECT_EQ(render(kLlama3, kChat, "<|begin_of_text|>", "<|end_of_text|>", false), want);
  // llama.cpp's recorded output (bos ""): content | trim.
  EXPECT_EQ(render(kLlama3, kPadded, "", ""),
            "<|start_header_id|>system<|end_header_id|>\n\nYou are a helpful assistant<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nHello<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\nHi there<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nWho are you<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\nI am an assistant<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nAnother question<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n");
}

TEST(ChatTemplate, Llama31WritesTheDatesInTheSystemTurn) {
  const std::string head = "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\n"
                           "Cutting Knowledge Date: December 2023\nToday Date: 26 Jul 2024\n\n";
  EXPECT_EQ(render(kLlama31Excerpt, kChat, "<|begin_of_text|>", "<|eot_id|>"),
            head + "You are a helpful assistant<|eot_id|>"
                   "<|start_header_id|>user<|end_header_id|>\n\nHello<|eot_id|>"
                   "<|start_header_id|>assistant<|end_header_id|>\n\nHi there<|eot_id|>"
                   "<|start_header_id|>user<|end_header_id|>\n\nWho are you<|eot_id|>"
                   "<|start_header_id|>assistant<|end_header_id|>\n\n");
  // Without a system message the system turn is still written.
  EXPECT_EQ(render(kLlama31Excerpt, {{"user", "Hi"}}, "<|begin_of_text|>", "<|eot_id|>"),
            head + "<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>"
                   "<|start_header_id|>assistant<|end_header_id|>\n\n");
}

TEST(ChatTemplate, ChatML) {
  EXPECT_EQ(render(kQwen2, kChat, "", "<|im_end|>"),
            "<|im_start|>system\nYou are a helpful assistant<|im_end|>\n<|im_start|>user\nHello<|im_end|>\n"
            "<|im_start|>assistant\nHi there<|im_end|>\n<|im_start|>user\nWho are you<|im_end|>\n"
            "<|im_start|>assistant\n");
  // Qwen2 writes its own system message when there is none.
  EXPECT_EQ(render(kQwen2, {{"user", "Hello"}}, "", "<|im_end|>"),
            "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\nHello<|im_end|>\n"
            "<|im_start|>assistant\n");
  EXPECT_EQ(render(kOpenHermesChatML, {{"user", "Hello"}}, "<s>", "</s>"),
            "<|im_start|>user\nHello<|im_end|>\n<|im_start|>assistant\n");
  // llama.cpp's recorded output: no trimming.
  EXPECT_EQ(render(kOpenHermesChatML, kPadded, "", ""),
            "<|im_start|>system\nYou are a helpful assistant<|im_end|>\n<|im_start|>user\nHello<|im_end|>\n<|im_start|>assistant\nHi there<|im_end|>\n<|im_start|>user\nWho are you<|im_end|>\n<|im_start|>assistant\n   I am an assistant   <|im_end|>\n<|im_start|>user\nAnother question<|im_end|>\n<|im_start|>assistant\n");
}

TEST(ChatTemplate, MistralFamilies) {
  // v0.1: no system role in the template; hearth puts it ahead of the first user turn.
  EXPECT_EQ(render(kMistralV01, kChat, "<s>", "</s>"),
            "<s>[INST] You are a helpful assistant\n\nHello [/INST]Hi there</s>[INST] Who are you [/INST]");
  EXPECT_EQ(render(kMistralV01, {{"user", "Hello"}, {"assistant", "Hi"}, {"user", "Bye"}}, "<s>", "</s>"),
            "<s>[INST] Hello [/INST]Hi</s>[INST] Bye [/INST]");
  // The rest: llama.cpp's recorded Jinja outputs (bos "", eos "</s>").
  EXPECT_EQ(render(kMistralV1, kPadded, "", "</s>"),
            " [INST] You are a helpful assistant\n\nHello [/INST] Hi there</s> [INST] Who are you [/INST]    I am an assistant   </s> [INST] Another question [/INST]");
  EXPECT_EQ(render(kMistralV3Excerpt, kPadded, "", "</s>"),
            "[INST] Hello[/INST] Hi there</s>[INST] Who are you[/INST] I am an assistant</s>[INST] You are a helpful assistant\n\nAnother question[/INST]");
  EXPECT_EQ(render(kMistralTekkenExcerpt, kPadded, "", "</s>"),
            "[INST]Hello[/INST]Hi there</s>[INST]Who are you[/INST]   I am an assistant   </s>[INST]You are a helpful assistant\n\nAnother question[/INST]");
  EXPECT_EQ(render(kMistralV7, kPadded, "", "</s>"),
            "[SYSTEM_PROMPT] You are a helpful assistant[/SYSTEM_PROMPT][INST] Hello[/INST] Hi there</s>[INST] Who are you[/INST]    I am an assistant   </s>[INST] Another question[/INST]");
  // With the real BOS text, the three-turn chat.
  EXPECT_EQ(render(kMistralV1, kChat, "<s>", "</s>"),
            "<s> [INST] You are a helpful assistant\n\nHello [/INST] Hi there</s> [INST] Who are you [/INST]");
  EXPECT_EQ(render(kMistralV3Excerpt, kChat, "<s>", "</s>"),
            "<s>[INST] Hello[/INST] Hi there</s>[INST] You are a helpful assistant\n\nWho are you[/INST]");
}

TEST(ChatTemplate, Zephyr) {
  EXPECT_EQ(render(kZephyr, kChat, "<s>", "</s>"),
            "<|system|>\nYou are a helpful assistant</s>\n<|user|>\nHello</s>\n<|assistant|>\nHi there</s>\n"
            "<|user|>\nWho are you</s>\n<|assistant|>\n");
}

TEST(ChatTemplate, Phi3) {
  const std::string turns = "<|system|>\nYou are a helpful assistant<|end|>\n<|user|>\nHello<|end|>\n"
                            "<|assistant|>\nHi there<|end|>\n<|user|>\nWho are you<|end|>\n";
  EXPECT_EQ(render(kPhi3, kChat, "<s>", "<|endoftext|>"), turns + "<|assistant|>\n");
  // {% else %}{{ eos_token }}: a prompt without the reply header ends with EOS.
  EXPECT_EQ(render(kPhi3, kChat, "<s>", "<|endoftext|>", false), turns + "<|endoftext|>");
  EXPECT_EQ(render(kPhi3Small, kChat, "<|endoftext|>", "<|endoftext|>"), "<|endoftext|>" + turns + "<|assistant|>\n");
}

TEST(ChatTemplate, Phi4) {
  EXPECT_EQ(render(kPhi4, kPadded, "", ""),
            "<|im_start|>system<|im_sep|>You are a helpful assistant<|im_end|><|im_start|>user<|im_sep|>Hello<|im_end|><|im_start|>assistant<|im_sep|>Hi there<|im_end|><|im_start|>user<|im_sep|>Who are you<|im_end|><|im_start|>assistant<|im_sep|>   I am an assistant   <|im_end|><|im_start|>user<|im_sep|>Another question<|im_end|><|im_start|>assistant<|im_sep|>");
}

TEST(ChatTemplate, GemmaPrependsTheSystemMessageToTheFirstUserTurn) {
  EXPECT_EQ(render(kGemma, kChat, "<bos>", "<eos>"),
            "<bos><start_of_turn>user\nYou are a helpful assistant\n\nHello<end_of_turn>\n"
            "<start_of_turn>model\nHi there<end_of_turn>\n<start_of_turn>user\nWho are you<end_of_turn>\n"
            "<start_of_turn>model\n");
  // Turns are trimmed; without a system message nothing is prepended.
  EXPECT_EQ(render(kGemma, {{"user", " Hello "}, {"assistant", "   I am   "}, {"user", "Q"}}, "<bos>", "<eos>"),
            "<bos><start_of_turn>user\nHello<end_of_turn>\n<start_of_turn>model\nI am<end_of_turn>\n"
            "<start_of_turn>user\nQ<end_of_turn>\n<start_of_turn>model\n");
}

TEST(ChatTemplate, PlainFallback) {
  EXPECT_EQ(render("", kChat, "<s>", "</s>"),
            "System: You are a helpful assistant\nUser: Hello\nAssistant: Hi there\nUser: Who are you\nAssistant:");
}

TEST(ChatTemplate, FormatNames) {
  for (int i = 0; i <= static_cast<int>(ChatFormat::Plain); ++i) {
    auto f = static_cast<ChatFormat>(i);
    EXPECT_EQ(chat_format_from_name(chat_format_name(f)), f);
  }
  EXPECT_THROW(chat_format_from_name("nope"), Error);
  // The format-only overload renders the family's defaults.
  EXPECT_EQ(chat_render(ChatFormat::ChatML, {{"user", "Hi"}}, true, "", ""),
            "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n");
}

// The bytes that came from the messages (content and roles): exactly those, in every family, so that the
// tokenizer finds control tokens only in the template's own text (a message spelling "<|im_end|>" cannot end
// its turn).
std::string blank_messages(const ChatPrompt& p) {
  std::string t = p.text;
  for (auto [b, e] : p.content)
    for (size_t i = b; i < e; ++i) t[i] = '_';
  return t;
}

TEST(ChatTemplate, PromptMarksExactlyTheMessagesText) {
  const std::string inj = "<|im_end|></s><|eot_id|>";
  const std::string alt(inj.size(), 'x');
  auto conv = [](const std::string& s) {
    return std::vector<ChatMessage>{{"system", " " + s + " sys"}, {"user", s + " hi "}, {"assistant", "  a" + s}, {"user", s}};
  };
  for (int i = 0; i <= static_cast<int>(ChatFormat::Plain); ++i) {
    ChatTemplate t;
    t.format = static_cast<ChatFormat>(i);
    SCOPED_TRACE(chat_format_name(t.format));
    const ChatPrompt a = chat_render_prompt(t, conv(inj), true, "<s>", "</s>");
    const ChatPrompt b = chat_render_prompt(t, conv(alt), true, "<s>", "</s>");
    EXPECT_EQ(a.text, chat_render(t, conv(inj), true, "<s>", "</s>"));
    EXPECT_NE(a.text, b.text);
    EXPECT_EQ(a.content, b.content);
    EXPECT_EQ(blank_messages(a), blank_messages(b));  // every byte where the two differ is marked
    size_t last = 0;
    for (auto [b, e] : a.content) {
      EXPECT_LE(last, b);
      EXPECT_LT(b, e);
      EXPECT_LE(e, a.text.size());
      last = e;
    }
  }
  ChatTemplate chatml;
  chatml.format = ChatFormat::ChatML;
  EXPECT_EQ(blank_messages(chat_render_prompt(chatml, {{"user", "<|im_end|>"}}, true, "", "")),
            "<|im_start|>user\n__________<|im_end|>\n<|im_start|>assistant\n");
  // A role templates do not know is the caller's text too.
  EXPECT_EQ(blank_messages(chat_render_prompt(chatml, {{"tool", "x"}}, true, "", "")),
            "<|im_start|>____\n_<|im_end|>\n<|im_start|>assistant\n");
  // Trimming and the system message folded into a turn keep the marks on the right bytes.
  EXPECT_EQ(blank_messages(chat_render_prompt(ChatFormat::Llama2, {{"system", "S"}, {"user", " </s> "}}, true, "<s>", "</s>")),
            "<s>[INST] <<SYS>>\n_\n<</SYS>>\n\n_____ [/INST]");  // only the end is trimmed
  EXPECT_EQ(blank_messages(chat_render_prompt(ChatFormat::Plain, {{"user", "Hi"}}, true, "<s>", "</s>")),
            "User: __\nAssistant:");
}

}  // namespace
}  // namespace hearth

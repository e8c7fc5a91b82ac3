// The prompt set of an evaluation run: a built-in default or a user's JSONL file.
#pragma once
#include <string>
#include <vector>

namespace hearth::eval {

struct Prompt {
  std::string id;  // unique within the set; names the prompt in every record
  std::string text;
  int max_tokens = 128;  // generation limit of each request
  std::string kind;      // "short" or "long" expected answer (informational)
};

// A varied default set: short factual answers and long free-form ones.
std::vector<Prompt> default_prompts();

// One JSON object per line: {"prompt": "...", "id": "...", "max_tokens": N, "kind": "..."}; only "prompt" is
// required ("id" defaults to "pN", max_tokens to default_max_tokens). Blank lines and lines starting with '#'
// are skipped. Throws hearth::Error naming the line on malformed input, an empty set, or duplicate ids.
std::vector<Prompt> load_prompts_jsonl(const std::string& path, int default_max_tokens = 128);

}  // namespace hearth::eval

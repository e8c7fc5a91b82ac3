// Default prompts and the JSONL prompt-file reader.
#include "eval/prompts.h"

#include <fstream>
#include <nlohmann/json.hpp>
#include <set>

#include "hearth/error.h"

namespace hearth::eval {

std::vector<Prompt> default_prompts() {
  return {
      {"capital", "What is the capital of France? Answer in one word.", 16, "short"},
      {"arith", "What is 17 multiplied by 3? Give only the number.", 16, "short"},
      {"translate", "Translate to German: \"The weather is nice today.\"", 32, "short"},
      {"haiku", "Write a haiku about a lighthouse in winter.", 48, "short"},
      {"story", "Once upon a time, in a small village by the sea, there lived a girl who", 256, "long"},
      {"explain", "Explain how a refrigerator keeps food cold, step by step, for a ten-year-old.", 256, "long"},
      {"code", "Write a Python function that returns the n-th Fibonacci number, with a docstring and tests.", 256,
       "long"},
      {"summary",
       "Summarize the following in three sentences: The printing press, invented by Johannes Gutenberg around "
       "1440, used movable metal type to reproduce texts quickly and cheaply. Before it, books were copied by "
       "hand, which made them rare and expensive. Within decades, presses spread across Europe, literacy rose, "
       "and ideas travelled faster than ever, fuelling the Renaissance, the Reformation and the Scientific "
       "Revolution.",
       128, "long"},
  };
}

std::vector<Prompt> load_prompts_jsonl(const std::string& path, int default_max_tokens) {
  std::ifstream in(path);
  if (!in) throw Error("cannot open prompt file '" + path + "'");
  std::vector<Prompt> out;
  std::set<std::string> ids;
  std::string line;
  for (int line_no = 1; std::getline(in, line); ++line_no) {
    const size_t first = line.find_first_not_of(" \t\r");
    if (first == std::string::npos || line[first] == '#') continue;
    const std::string where = path + ":" + std::to_string(line_no) + ": ";
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(line);
    } catch (const nlohmann::json::exception& e) {
      throw Error(where + "invalid JSON (" + e.what() + ")");
    }
    if (!j.is_object() || !j.contains("prompt") || !j["prompt"].is_string())
      throw Error(where + "expected an object with a string \"prompt\"");
    Prompt p;
    p.text = j["prompt"].get<std::string>();
    p.id = std::string("p").append(std::to_string(out.size() + 1));
    p.max_tokens = default_max_tokens;
    if (j.contains("id")) {
      if (!j["id"].is_string() && !j["id"].is_number_integer()) throw Error(where + "\"id\" must be a string");
      p.id = j["id"].is_string() ? j["id"].get<std::string>() : std::to_string(j["id"].get<long long>());
    }
    if (j.contains("max_tokens")) {
      if (!j["max_tokens"].is_number_integer() || j["max_tokens"].get<long long>() <= 0 ||
          j["max_tokens"].get<long long>() > 1000000)
        throw Error(where + "\"max_tokens\" must be a positive integer");
      p.max_tokens = j["max_tokens"].get<int>();
    }
    if (j.contains("kind") && j["kind"].is_string()) p.kind = j["kind"].get<std::string>();
    if (!ids.insert(p.id).second) throw Error(where + "duplicate id '" + p.id + "'");
    out.push_back(std::move(p));
  }
  if (out.empty()) throw Error("prompt file '" + path + "' holds no prompts");
  return out;
}

}  // namespace hearth::eval

// Options of `hearth run` (and of the commands that generate text the same way).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "commands.h"
#include "hearth/generate.h"

namespace hearth::cli {

struct RunOptions {
  ModelOptions model;
  std::string positional_model;
  std::vector<std::string> positional_prompt;  // `hearth run NAME why is the sky blue` (Ollama's form)
  bool chat_prompt = false;  // the prompt came as Ollama's does: one user message in the chat template
  bool conversation = false;     // -cnv: the chat even with -p (whose prompt is its first message)
  bool no_conversation = false;  // -no-cnv: one-shot (what -p means anyway)
  std::string prompt;
  std::string prompt_file;
  std::string system;
  int n_predict = -1;
  int n_batch = 512;
  float temp = 0.8f;
  int top_k = 40;
  float top_p = 0.95f;
  float min_p = 0.05f;
  float repeat_penalty = 1.0f;
  int repeat_last_n = 64;
  float presence_penalty = 0.0f;
  float frequency_penalty = 0.0f;
  int64_t seed = -1;
  bool json = false;
  bool ignore_eos = false;
  std::string json_schema;       // inline JSON
  std::string json_schema_file;
  std::string model_draft;       // speculative decoding: the draft model (same vocabulary)
  int n_draft = 8;               // tokens it proposes per step
  std::vector<std::string> choices;  // --choice: score these continuations instead of generating
};

void add_run_options(CLI::App& cmd, RunOptions& o);
// The model and prompt from -m/-p and the positionals: `run NAME [PROMPT...]`, `run -m NAME [PROMPT...]`; throws
// when there is no model or the prompt is given twice.
void settle_model_and_prompt(RunOptions& o);
GenerateParams generate_params(const RunOptions& o);
void print_stats(const GenerateStats& st, double load_ms);

}  // namespace hearth::cli

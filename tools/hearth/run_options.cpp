#include "run_options.h"

#include <cstdio>
#include <fstream>
#include <iterator>

namespace hearth::cli {

void add_run_options(CLI::App& cmd, RunOptions& o) {
  cmd.add_option("model", o.positional_model, "the model (same as -m)");
  cmd.add_option("prompt", o.positional_prompt,
                 "a prompt after the model, as `ollama run NAME PROMPT`: one chat message (the words are joined), "
                 "answered once");
  cmd.add_option("-m,--model", o.model.model, "the model: a GGUF file, a store name, or hf:ORG/REPO/FILE.gguf / a URL");
  add_models_option(cmd, o.model.models_dir);
  add_model_options(cmd, o.model);
  cmd.add_option("-p,--prompt", o.prompt, "prompt, continued as it is; without a prompt, start a chat");
  cmd.add_option("-f,--file", o.prompt_file, "read the prompt from a file");
  cmd.add_flag("--conversation", o.conversation,
               "(-cnv) llama.cpp's conversation mode: the chat, also with -p (then the prompt is its first message)");
  cmd.add_flag("--no-conversation", o.no_conversation, "(-no-cnv) one-shot, as -p/-f are anyway (llama.cpp's flag)");
  cmd.add_option("--system", o.system, "(-sys) system prompt (formats the prompt with the chat template)");
  cmd.add_option("-n,--n-predict", o.n_predict, "tokens to generate (-1: until end of generation)");
  cmd.add_option("-b,--batch-size", o.n_batch, "tokens per forward pass for the prompt")->check(CLI::PositiveNumber);
  cmd.add_option("--temp", o.temp, "temperature (0: greedy)");
  cmd.add_option("--top-k", o.top_k, "top-k sampling (0: off)");
  cmd.add_option("--top-p", o.top_p, "top-p sampling (1: off)");
  cmd.add_option("--min-p", o.min_p, "min-p sampling (0: off)");
  cmd.add_option("--repeat-penalty", o.repeat_penalty, "penalty for repeated tokens (1: off)");
  cmd.add_option("--repeat-last-n", o.repeat_last_n, "tokens the penalties look back over (-1: context)");
  cmd.add_option("--presence-penalty", o.presence_penalty, "presence penalty");
  cmd.add_option("--frequency-penalty", o.frequency_penalty, "frequency penalty");
  cmd.add_option("-s,--seed", o.seed, "random seed (-1: random)");
  cmd.add_flag("--ignore-eos", o.ignore_eos, "never end at an end-of-generation token (generate -n tokens)");
  cmd.add_flag("--json", o.json, "JSON mode: the output is one JSON object");
  cmd.add_option("-j,--json-schema", o.json_schema, "the output follows this JSON schema (inline JSON)");
  cmd.add_option("--json-schema-file", o.json_schema_file, "the output follows the JSON schema in this file");
  cmd.add_option("--model-draft", o.model_draft,  // -md (llama.cpp's name) is translated in llama_flags.cpp
                 "(-md) speculative decoding: a small model with the same vocabulary proposes tokens (one-shot -p "
                 "only)");
  cmd.add_option("--choice", o.choices,
                 "repeatable: instead of generating, print each choice's probability as the continuation of the "
                 "prompt (choice<TAB>probability<TAB>log-probability)");
  cmd.add_option("--draft,--draft-max", o.n_draft, "tokens the draft model proposes per step")
      ->capture_default_str()
      ->check(CLI::Range(1, 64));
}

void settle_model_and_prompt(RunOptions& o) {
  std::vector<std::string> words = o.positional_prompt;
  if (o.model.model.empty()) o.model.model = o.positional_model;
  else if (!o.positional_model.empty()) words.insert(words.begin(), o.positional_model);  // -m NAME PROMPT
  if (o.model.model.empty())
    throw Error("no model given: hearth run MODEL [PROMPT] (a GGUF file, a store name, or hf:ORG/REPO/FILE.gguf)");
  if (o.conversation && o.no_conversation)
    throw Error("give --conversation (-cnv) or --no-conversation (-no-cnv), not both");
  if (words.empty()) return;
  if (!o.prompt.empty() || !o.prompt_file.empty())
    throw Error("the prompt is given twice: after the model (as `ollama run NAME PROMPT`) and with -p/-f");
  for (const std::string& w : words) o.prompt += (o.prompt.empty() ? "" : " ") + w;
  o.chat_prompt = true;
}

GenerateParams generate_params(const RunOptions& o) {
  GenerateParams gp;
  gp.n_predict = o.n_predict;
  gp.sampling.temperature = o.temp;
  gp.sampling.top_k = o.top_k;
  gp.sampling.top_p = o.top_p;
  gp.sampling.min_p = o.min_p;
  gp.sampling.repeat_penalty = o.repeat_penalty;
  gp.sampling.repeat_last_n = o.repeat_last_n;
  gp.sampling.presence_penalty = o.presence_penalty;
  gp.sampling.frequency_penalty = o.frequency_penalty;
  gp.sampling.seed = o.seed < 0 ? 0xFFFFFFFFu : static_cast<uint64_t>(o.seed);
  gp.json = o.json;
  gp.ignore_eos = o.ignore_eos;
  if (!o.json_schema.empty() && !o.json_schema_file.empty())
    throw Error("give --json-schema or --json-schema-file, not both");
  gp.json_schema = o.json_schema;
  if (!o.json_schema_file.empty()) {
    std::ifstream f(o.json_schema_file, std::ios::binary);
    if (!f) throw Error("cannot read " + o.json_schema_file);
    gp.json_schema.assign(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
  }
  if (!gp.json_schema.empty()) {
    check_json_schema(gp.json_schema);
    gp.json = true;
  }
  return gp;
}

void print_stats(const GenerateStats& st, double load_ms) {
  double pp = st.prompt_ms > 0 ? st.n_prompt * 1000.0 / st.prompt_ms : 0;
  double tg = st.n_gen > 1 && st.gen_ms > 0 ? (st.n_gen - 1) * 1000.0 / st.gen_ms : 0;
  std::fprintf(stderr,
               "hearth: load %.0f ms | prompt %d tokens in %.1f ms (%.1f tok/s) | generation %d tokens in %.1f ms "
               "(%.1f tok/s) | stop: %s\n",
               load_ms, st.n_prompt, st.prompt_ms, pp, st.n_gen, st.gen_ms, tg, st.stop_reason.c_str());
  if (st.n_drafted > 0)
    std::fprintf(stderr, "hearth: draft: %d of %d proposed tokens accepted (%.0f%%)\n", st.n_accepted, st.n_drafted,
                 100.0 * st.n_accepted / st.n_drafted);
}

}  // namespace hearth::cli

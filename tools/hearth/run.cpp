// hearth run: one-shot generation with -p / -f, or an interactive chat without them.
#include <cstdio>
#include <fstream>
#include <sstream>

#include "chat.h"
#include "commands.h"
#include "hearth/choices.h"
#include "hearth/generate.h"
#include "hearth/session.h"
#include "placement/memory_fit.h"
#include "pipeline_cli.h"
#include "run_options.h"

namespace hearth::cli {
namespace {

std::string read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw Error("cannot read prompt file " + path);
  std::ostringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

int run(RunOptions& o) {
  settle_model_and_prompt(o);
  const bool has_prompt = !o.prompt.empty() || !o.prompt_file.empty();
  if (!o.prompt_file.empty()) o.prompt = read_file(o.prompt_file);
  const bool one_shot = has_prompt && !o.conversation;
  if (o.no_conversation && !has_prompt) throw Error("--no-conversation (-no-cnv) needs a prompt (-p or -f)");
  if (!o.model_draft.empty() && !one_shot) throw Error("--model-draft needs a prompt (-p or -f)");
  if (!o.choices.empty() && !one_shot) throw Error("--choice needs a prompt (-p or -f)");
  // Everything that can be wrong with the options (a JSON schema, above all) is found before the model loads.
  GenerateParams gp = generate_params(o);
  const std::string name = o.model.model;  // what the user called it: the load line says that, not a blob path
  o.model.model = resolve_model(o.model.model, o.model.models_dir);

  auto t0 = std::chrono::steady_clock::now();
  LoadParams lp = load_params(o.model);
  // A model that does not fit is refused with the numbers before anything is allocated.
  if (const std::string refusal = check_model_fits(o.model.model, lp, 1, o.n_batch); !refusal.empty())
    throw Error("cannot load " + name + ": " + refusal + " (try a smaller -c or a smaller quantization)");
  show_load_progress(lp, name);
  auto model = Model::load(o.model.model, lp);
  SessionParams sp;
  sp.n_ctx = o.model.n_ctx;
  sp.n_batch = o.n_batch;
  Session session(*model, sp);
  double load_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  std::fprintf(stderr, "hearth: loaded %s (%s, %s, %.2f GiB) in %.0f ms; %s; context %d\n", name.c_str(),
               model->info().arch.c_str(), model->info().file_type.c_str(), model->info().file_size / 1073741824.0,
               load_ms, model->placement().text.c_str(), session.n_ctx());

  if (!one_shot) return chat_loop(*model, session, gp, o.system, o.conversation ? o.prompt : std::string());

  std::vector<int32_t> tokens;
  if (o.chat_prompt) {  // Ollama's form: the prompt is a user message of the chat
    std::vector<ChatMessage> messages;
    if (!o.system.empty()) messages.push_back({"system", o.system});
    messages.push_back({"user", o.prompt});
    tokens = tokenize_chat(*model, messages);
  } else if (!o.system.empty()) {
    tokens = tokenize_chat(*model, {{"system", o.system}, {"user", o.prompt}});
  } else {
    tokens = model->tokenize(o.prompt, true, true);
  }
  if (static_cast<int>(tokens.size()) >= session.n_ctx())
    throw Error("prompt is " + std::to_string(tokens.size()) + " tokens, longer than the context size " +
                std::to_string(session.n_ctx()) + " (use a larger -c)");
  if (!o.choices.empty()) {
    for (const ChoiceScore& c : score_choices(*model, tokens, o.choices))
      std::printf("%s\t%.6f\t%.4f\n", c.text.c_str(), c.probability, c.logprob);
    return 0;
  }
  auto print = [](const std::string& text) {
    std::fwrite(text.data(), 1, text.size(), stdout);
    std::fflush(stdout);
    return true;
  };
  GenerateStats st;
  if (o.model_draft.empty()) {
    st = generate(session, tokens, gp, print);
  } else {
    LoadParams dlp = lp;
    dlp.n_ctx = session.n_ctx();
    auto draft = Model::load(resolve_model(o.model_draft, o.model.models_dir), dlp);
    SessionParams dsp = sp;
    dsp.n_ctx = session.n_ctx();
    Session draft_session(*draft, dsp);
    std::fprintf(stderr, "hearth: draft model %s (%s); %s\n", o.model_draft.c_str(), draft->info().file_type.c_str(),
                 draft->placement().text.c_str());
    st = generate_speculative(session, draft_session, tokens, gp, o.n_draft, print);
  }
  std::fputc('\n', stdout);
  print_stats(st, load_ms);
  return 0;
}

}  // namespace

Runner add_run(CLI::App& app) {
  auto o = std::make_shared<RunOptions>();
  CLI::App* cmd = app.add_subcommand("run", "generate text from a prompt, or chat when no prompt is given");
  add_run_options(*cmd, *o);
  auto pipe = add_pipeline_options(*cmd);
  return [o, pipe] { return pipe->enabled ? run_pipeline(*o, *pipe) : run(*o); };
}

}  // namespace hearth::cli

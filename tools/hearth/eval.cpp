// hearth eval (also `hearth bench --eval`): a prompt set against local models and OpenAI-API endpoints, with
// speed, energy and cost per request; writes a terminal table, CSV, JSON and a self-contained HTML report.
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "commands.h"
#include "eval/config_summary.h"
#include "eval/endpoint_client.h"
#include "eval/local_target.h"
#include "eval/prompts.h"
#include "eval/report_html.h"
#include "eval/runner.h"

namespace hearth::cli {
namespace {

volatile std::sig_atomic_t g_interrupted = 0;

extern "C" void on_sigint(int) {
  g_interrupted = 1;
  std::signal(SIGINT, SIG_DFL);  // a second Ctrl-C ends the process at once
}

struct EvalOptions {
  std::vector<std::string> models;
  std::string threads = "0", ngl = "-1", temps = "0";
  std::string split_mode = "layer", tensor_split, gpu_mem_limit;
  int n_ctx = 0;
  bool no_repack = false;
  std::vector<std::string> endpoints, endpoint_models;
  std::string api_key;
  double timeout_s = 300;
  std::string prompts_file;
  int max_tokens = 0;
  int reps = 3;
  bool no_warmup = false, ignore_eos = false, chat = false, sequential = false;
  uint64_t seed = 42;
  double price_kwh = eval::kDefaultPriceKwh;
  std::vector<std::string> hosted;
  std::string power = "auto";
  double watts = 0;
  std::string out_dir = "hearth-eval", title = "hearth evaluation";
  std::string command;
};

template <typename T>
std::vector<T> parse_list(const std::string& s, const char* what) {
  std::vector<T> out;
  std::stringstream ss(s);
  std::string part;
  while (std::getline(ss, part, ',')) {
    std::istringstream in(part);
    T v{};
    if (!(in >> v) || !(in >> std::ws).eof()) throw Error(std::string("invalid ") + what + " list '" + s + "'");
    out.push_back(v);
  }
  if (out.empty()) throw Error(std::string("empty ") + what + " list");
  return out;
}

// The machine's energy readers as --power asks; *note says which, or why there are none.
std::unique_ptr<telemetry::PowerSampler> open_power(const EvalOptions& o, std::string* note) {
  std::vector<std::unique_ptr<telemetry::EnergySource>> sources;
  std::string why_nvml, why_rapl;
  if (o.power == "auto" || o.power == "nvml")
    for (auto& s : telemetry::open_nvml("", &why_nvml)) sources.push_back(std::move(s));
  if (o.power == "auto" || o.power == "rapl")
    for (auto& s : telemetry::open_rapl("/sys/class/powercap", &why_rapl)) sources.push_back(std::move(s));
  std::string missing;
  if (!why_nvml.empty()) missing += "NVML: " + why_nvml;
  if (!why_rapl.empty()) missing += (missing.empty() ? "" : "; ") + ("RAPL: " + why_rapl);
  if (sources.empty() && o.power != "none" && o.watts > 0) {
    sources.push_back(telemetry::make_estimate(o.watts));
    *note = "ESTIMATE, not a measurement: a constant " + std::to_string(static_cast<int>(o.watts)) +
            " W (--watts) times wall time" + (missing.empty() ? "" : " (no hardware reader: " + missing + ")");
  } else if (sources.empty()) {
    *note = "not measured" + (missing.empty() ? std::string() : " (" + missing + ")") +
            (o.power == "none" ? "" : "; --watts W gives a labelled estimate");
    return nullptr;
  }
  auto sampler = std::make_unique<telemetry::PowerSampler>(std::move(sources));
  if (note->empty()) {
    for (size_t i = 0; i < sampler->size(); ++i)
      *note += (i ? " + " : "") + sampler->names()[i] + " (" + sampler->methods()[i] + ")";
    *note += ", whole machine: other processes count too";
  }
  return sampler;
}

std::vector<eval::TargetSpec> target_specs(const EvalOptions& o) {
  std::vector<eval::TargetSpec> specs;
  std::vector<std::string> split_modes = parse_list<std::string>(o.split_mode, "--split-mode");
  for (const std::string& m : split_modes)
    if (m != "layer" && m != "row" && m != "none")
      throw Error("--split-mode: '" + m + "' is not layer, row or none");
  for (const std::string& path : o.models)
    for (int t : parse_list<int>(o.threads, "--threads"))
      for (int ngl : parse_list<int>(o.ngl, "-ngl"))
      for (const std::string& split : split_modes) {
        ModelOptions mo;
        mo.model = path, mo.threads = t, mo.n_gpu_layers = ngl, mo.n_ctx = o.n_ctx, mo.split_mode = split;
        mo.tensor_split = o.tensor_split, mo.gpu_mem_limit = o.gpu_mem_limit, mo.no_repack = o.no_repack;
        const LoadParams lp = load_params(mo);
        const std::string name = std::filesystem::path(path).filename().string();
        eval::TargetSpec s;
        s.label = "hearth " + name + " t=" + (t > 0 ? std::to_string(t) : "auto") +
                  " ngl=" + (ngl >= 0 ? std::to_string(ngl) : "auto") +
                  (split_modes.size() > 1 ? " split=" + split : "");
        s.kind = "hearth";
        s.model = path;
        const int n_ctx = o.n_ctx;
        s.open = [path, lp, n_ctx] { return eval::make_local_target(resolve_model(path), lp, n_ctx); };
        specs.push_back(std::move(s));
      }
  if (o.endpoint_models.size() > o.endpoints.size()) throw Error("--endpoint-model without its --endpoint");
  for (size_t i = 0; i < o.endpoints.size(); ++i) {
    eval::EndpointOptions eo;
    eo.url = o.endpoints[i];
    eo.model = i < o.endpoint_models.size() ? o.endpoint_models[i] : "default";
    eo.timeout_s = o.timeout_s;
    eo.api_key = o.api_key;
    if (eo.api_key.empty())
      if (const char* k = std::getenv("OPENAI_API_KEY")) eo.api_key = k;
    eval::make_endpoint_target(eo);  // a URL it cannot use is an error before anything runs
    eval::TargetSpec s;
    s.label = "endpoint " + eo.model + " @ " + eo.url;
    s.kind = "endpoint";
    s.model = eo.model;
    s.open = [eo] { return eval::make_endpoint_target(eo); };
    specs.push_back(std::move(s));
  }
  if (specs.empty()) throw Error("nothing to evaluate: give -m MODEL.gguf and/or --endpoint URL --model NAME");
  return specs;
}

void write_file(const std::filesystem::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
  if (!out) throw Error("cannot write " + path.string());
}

std::string utc_now() {
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[40];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M UTC", &tm);
  return buf;
}

int run_eval_command(const EvalOptions& o) {
  std::vector<eval::Prompt> prompts =
      o.prompts_file.empty() ? eval::default_prompts() : eval::load_prompts_jsonl(o.prompts_file, 128);
  if (o.max_tokens > 0)
    for (eval::Prompt& p : prompts) p.max_tokens = o.max_tokens;
  std::vector<eval::HostedPrice> hosted = eval::default_hosted_prices();
  for (const std::string& item : o.hosted) {
    eval::HostedPrice h = eval::parse_hosted_price(item);
    auto same = std::find_if(hosted.begin(), hosted.end(), [&](const auto& x) { return x.name == h.name; });
    if (same != hosted.end())
      *same = h;
    else
      hosted.push_back(h);
  }
  eval::RunOptions ro;
  ro.temperatures = parse_list<double>(o.temps, "--temp");
  ro.reps = o.reps;
  ro.warmup = !o.no_warmup;
  ro.interleave = !o.sequential;
  ro.seed = o.seed;
  ro.ignore_eos = o.ignore_eos;
  ro.chat = o.chat;
  ro.price_kwh = o.price_kwh;
  const std::vector<eval::TargetSpec> specs = target_specs(o);
  std::filesystem::create_directories(o.out_dir);

  std::string energy_note;
  std::unique_ptr<telemetry::PowerSampler> power = open_power(o, &energy_note);
  std::fprintf(stderr, "energy: %s\n", energy_note.c_str());

  const bool tty = isatty(STDERR_FILENO);
  eval::RunHooks hooks;
  hooks.power = power.get();
  hooks.stop = [] { return g_interrupted != 0; };
  hooks.progress = [tty, last = std::string()](size_t done, size_t total, const std::string& what) mutable {
    if (!tty && what == last && done != total) return;  // a log file gets one line per step, not per request
    last = what;
    const int width = 30, fill = total ? static_cast<int>(width * done / total) : width;
    std::fprintf(stderr, "%s[%s%s] %zu/%zu %s%s", tty ? "\r\033[K" : "", std::string(fill, '#').c_str(),
                 std::string(width - fill, '.').c_str(), done, total, what.c_str(), tty ? "" : "\n");
  };
  std::signal(SIGINT, on_sigint);
  std::vector<eval::RequestRecord> records;
  std::string failure;
  try {
    eval::run_eval(specs, prompts, ro, hooks, records);
  } catch (const std::exception& e) {
    failure = e.what();  // written below with everything measured before it
  }
  std::signal(SIGINT, SIG_DFL);
  if (tty) std::fprintf(stderr, "\n");
  const bool interrupted = g_interrupted != 0;
  if (interrupted) std::fprintf(stderr, "interrupted: writing the %zu requests measured so far\n", records.size());

  const std::vector<eval::ConfigSummary> summaries = eval::summarize_configs(records, o.price_kwh);
  eval::ReportInfo info;
  info.title = o.title;
  info.generated_at = utc_now();
  info.command = o.command;
  info.energy_note = energy_note;
  info.price_kwh = o.price_kwh;
  info.n_prompts = prompts.size();
  info.reps = o.reps;
  info.interrupted = interrupted || !failure.empty();
  const std::filesystem::path dir(o.out_dir);
  write_file(dir / "requests.csv", eval::records_csv(records));
  write_file(dir / "requests.json", eval::records_json(records));
  write_file(dir / "report.html", eval::render_html_report(records, summaries, hosted, info));
  std::printf("%s", eval::summary_table_text(summaries, hosted).c_str());
  std::fprintf(stderr, "energy: %s\nwrote %s/{requests.csv,requests.json,report.html}\n", energy_note.c_str(),
               o.out_dir.c_str());
  size_t failed = 0;
  for (const auto& r : records) failed += !r.m.ok;
  for (const auto& r : records)
    if (!r.m.ok) {
      std::fprintf(stderr, "%zu of %zu requests failed; first: %s [%s]: %s\n", failed, records.size(), r.config.c_str(),
                   r.prompt_id.c_str(), r.m.error.c_str());
      break;
    }
  if (!failure.empty()) throw Error(failure);
  if (interrupted) return 130;
  return failed == records.size() ? 1 : 0;  // partial failures are in the report; none succeeding is an error
}

}  // namespace

Runner add_eval(CLI::App& app, const std::string& command_line) {
  auto o = std::make_shared<EvalOptions>();
  o->command = command_line;
  CLI::App* cmd = app.add_subcommand(
      "eval",
      "evaluate local models and OpenAI-API endpoints on a prompt set: speed, energy, cost, HTML report "
      "(also: hearth bench --eval)");
  cmd->add_option("-m,--model", o->models, "local model file(s) (GGUF); repeat for several");
  cmd->add_option("-t,--threads", o->threads, "CPU thread counts, comma-separated (0: automatic)");
  cmd->add_option("--n-gpu-layers,--gpu-layers", o->ngl, "layers on GPU, comma-separated (-ngl; -1: automatic)");
  cmd->add_option("--split-mode", o->split_mode, "several GPUs: layer, row or none, comma-separated (each its own configuration)");
  cmd->add_option("--tensor-split", o->tensor_split, "share of the model per GPU, e.g. 3,1");
  cmd->add_option("--gpu-mem-limit", o->gpu_mem_limit, "GPU memory cap (e.g. 8G)");
  cmd->add_option("-c,--ctx-size", o->n_ctx, "context size of local models (default: model's, at most 4096)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_flag("--no-repack", o->no_repack, "CPU: use weights in place instead of a packed copy");
  cmd->add_option("--temp", o->temps, "temperatures, comma-separated (each is its own configuration)");
  cmd->add_option("--endpoint", o->endpoints, "OpenAI-API server URL (llama-server, Ollama, vLLM); repeatable");
  cmd->add_option("--endpoint-model", o->endpoint_models,
                  "served model name of the preceding --endpoint (written `--endpoint URL --model NAME`)");
  cmd->add_option("--api-key", o->api_key, "Bearer token for the endpoints (default: $OPENAI_API_KEY)");
  cmd->add_option("--timeout", o->timeout_s, "seconds an endpoint request may take")->check(CLI::PositiveNumber);
  cmd->add_option("--prompts", o->prompts_file, "JSONL prompt file: {\"prompt\": ..., \"id\": ..., \"max_tokens\": N}");
  cmd->add_option("-n,--max-tokens", o->max_tokens, "generation limit for every prompt (default: per prompt)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("-r,--repetitions", o->reps, "repetitions per prompt")->check(CLI::PositiveNumber);
  cmd->add_flag("--no-warmup", o->no_warmup, "measure the first request too");
  cmd->add_flag("--sequential", o->sequential,
                "one target at a time (one model in memory at once); default: all open, measured in turn");
  cmd->add_flag("--ignore-eos", o->ignore_eos, "always generate max tokens (equal work on every target)");
  cmd->add_flag("--chat", o->chat, "use the chat template (/v1/chat/completions) instead of raw completions");
  cmd->add_option("--seed", o->seed, "sampling seed");
  cmd->add_option("--price-kwh", o->price_kwh, "electricity price, USD per kWh")->check(CLI::NonNegativeNumber);
  cmd->add_option("--hosted", o->hosted, "hosted price to compare, NAME=USD per 1M output tokens; repeatable");
  cmd->add_option("--power", o->power, "energy readers: auto (NVML + RAPL), nvml, rapl, none")
      ->check(CLI::IsMember({"auto", "nvml", "rapl", "none"}));
  cmd->add_option("--watts", o->watts, "without a hardware reader: a labelled estimate of this many watts")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--out-dir", o->out_dir, "where requests.csv, requests.json and report.html go");
  cmd->add_option("--title", o->title, "report title");
  return [o] { return run_eval_command(*o); };
}

}  // namespace hearth::cli

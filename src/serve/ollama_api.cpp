// Ollama-compatible API: /api/generate and /api/chat (NDJSON streaming by default, or "stream": false),
// /api/tags, /api/ps, /api/show, /api/version. Durations are nanoseconds, as Ollama reports them.
#ifdef HEARTH_HAVE_HTTP
#include <chrono>
#include <cstdio>
#include <ctime>
#include <filesystem>

#include "sampling/param_limits.h"
#include "serve/chat_messages.h"
#include "serve/context_fit.h"
#include "serve/handler.h"
#include "serve/json_fields.h"
#include "serve/logprobs_json.h"
#include "serve/keep_alive.h"
#include "serve/serve_state.h"
#include "serve/store_models.h"
#include "serve/streaming.h"
#include "serve/structured_output.h"

namespace hearth::serve {
namespace {

std::string rfc3339(std::chrono::system_clock::time_point t) {
  const std::time_t s = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&s, &tm);
  const long ns = static_cast<long>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count() % 1000000000);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%09ldZ", tm.tm_year + 1900, tm.tm_mon + 1,
                tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ns);
  return buf;
}

int64_t ns(double ms) { return static_cast<int64_t>(ms * 1e6); }

// "options" of a request (Ollama's names); unknown options are ignored, as Ollama does.
GenerateParams parse_options(const json& body) {
  GenerateParams g;
  const json* o = get_object(body, "options");
  if (!o) return g;
  SamplerParams& s = g.sampling;
  using namespace sampling;  // the ranges, shared with profiles
  if (auto v = get_number_in(*o, "temperature", 0, kMaxTemperature)) s.temperature = static_cast<float>(*v);
  if (auto v = get_integer_in(*o, "top_k", kMinTopK, kMaxInt)) s.top_k = static_cast<int>(*v);
  if (auto v = get_number_in(*o, "top_p", 0, 1)) s.top_p = static_cast<float>(*v);
  if (auto v = get_number_in(*o, "min_p", 0, 1)) s.min_p = static_cast<float>(*v);
  if (auto v = get_number_above(*o, "repeat_penalty", 0, kMaxRepeatPenalty)) s.repeat_penalty = static_cast<float>(*v);
  if (auto v = get_integer_in(*o, "repeat_last_n", kMinRepeatLastN, kMaxInt)) s.repeat_last_n = static_cast<int>(*v);
  if (auto v = get_number_in(*o, "presence_penalty", -kMaxPenalty, kMaxPenalty)) s.presence_penalty = static_cast<float>(*v);
  if (auto v = get_number_in(*o, "frequency_penalty", -kMaxPenalty, kMaxPenalty))
    s.frequency_penalty = static_cast<float>(*v);
  if (auto v = get_seed(*o, "seed")) s.seed = *v;
  if (auto v = get_integer_in(*o, "num_predict", kMinNumPredict, kMaxInt)) {
    if (*v == 0) throw bad_request("'num_predict' must be positive (or -1: unlimited), got 0", "invalid_value");
    g.n_predict = *v < 0 ? -1 : static_cast<int>(std::min<long long>(*v, 1 << 30));
  }
  g.stop = get_stop(*o, "stop");
  return g;
}

json details_of(const std::string& path) {
  ModelInfo info = inspect_model(path);
  char size[32];
  const double p = static_cast<double>(info.n_params);
  if (p >= 1e9) std::snprintf(size, sizeof size, "%.1fB", p / 1e9);
  else if (p >= 1e6) std::snprintf(size, sizeof size, "%.1fM", p / 1e6);
  else std::snprintf(size, sizeof size, "%.0fK", p / 1e3);
  return {{"parent_model", ""},       {"format", "gguf"},  {"family", info.arch},
          {"families", {info.arch}}, {"parameter_size", size}, {"quantization_level", info.file_type}};
}

json model_entry(const ModelEntry& e) {
  return {{"name", e.name},
          {"model", e.name},
          {"modified_at", rfc3339(e.modified)},
          {"size", e.size},
          {"digest", e.digest.rfind("sha256:", 0) == 0 ? e.digest.substr(7) : e.digest},
          {"details", details_of(e.path)}};
}

// Share of the model's layers on GPUs (0..1), from the placement decided at load.
double gpu_share(const Model& model) {
  const auto& devices = model.placement().layer_device;
  if (devices.empty()) return 0;
  size_t gpu = 0;
  for (const std::string& d : devices) gpu += d != "CPU";
  return static_cast<double>(gpu) / static_cast<double>(devices.size());
}

// "100% CPU", "100% GPU" or "48%/52% CPU/GPU", as `ollama ps` shows it.
std::string processor_text(double gpu) {
  const int g = static_cast<int>(gpu * 100 + 0.5);
  if (g <= 0) return "100% CPU";
  if (g >= 100) return "100% GPU";
  return std::to_string(100 - g) + "%/" + std::to_string(g) + "% CPU/GPU";
}

// A loaded model in /api/ps: Ollama's fields (size: the memory the load was estimated to take: weights, KV cache,
// compute buffers) plus processor and placement.
json running_entry(const LoadedModel& lm) {
  ModelEntry e{lm.name, lm.path, 0, lm.loaded_at, lm.id()};
  json j = model_entry(e);
  const uint64_t size = lm.need.total() ? lm.need.total() : lm.model->info().file_size;
  const double gpu = gpu_share(*lm.model);
  j["size"] = size;
  j["size_vram"] = static_cast<uint64_t>(static_cast<double>(size) * gpu);
  const auto expires = lm.use->expires_at();
  j["expires_at"] = expires ? rfc3339(*expires) : "2318-01-01T00:00:00Z";  // Ollama's "forever"
  j["context_length"] = lm.scheduler->n_ctx();
  j["processor"] = processor_text(gpu);
  j["placement"] = lm.placement;
  j["active_requests"] = lm.use->active.load();
  return j;
}

// The closing fields of a generation, as Ollama sends them.
void add_stats(json& j, const GenerationJob& job, double load_ms, bool truncate) {
  const GenerateStats& st = job.stats();
  if (truncate) j["truncated_tokens"] = job.truncated_tokens;  // an extension: prompt tokens dropped to fit
  j["done_reason"] = finish_reason(st.stop_reason);
  j["total_duration"] = ns(job.total_ms() + load_ms);
  j["load_duration"] = ns(load_ms);
  j["prompt_eval_count"] = job.n_prompt();
  j["prompt_eval_duration"] = ns(st.prompt_ms);
  j["eval_count"] = st.n_gen;
  j["eval_duration"] = ns(st.gen_ms);
}

std::string line(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace) + "\n"; }

void handle(ServeState& state, bool chat, const httplib::Request& req, httplib::Response& res) {
  const json body = parse_body(req.body);
  const std::string model_name = require_string(body, "model");
  std::vector<ChatMessage> messages;
  std::string prompt;
  bool raw = false;
  if (chat) {
    messages = parse_messages(body, true);
  } else {
    prompt = get_string(body, "prompt").value_or("");
    raw = get_bool(body, "raw").value_or(false);
    if (get_string(body, "suffix").value_or("") != "") throw bad_request("'suffix' is not supported by this model");
    if (const json* images = get_array(body, "images"); images && !images->empty())
      throw bad_request("images are not supported by this model");
  }
  std::string system = get_string(body, "system").value_or("");
  GenerateParams params = parse_options(body);
  params.logprobs = parse_logprobs_request(body, true);  // "logprobs": true, "top_logprobs": 0-20
  const bool stream = get_bool(body, "stream").value_or(true);
  parse_ollama_format(req.body, body, params);

  const std::optional<KeepAlive> keep_alive = parse_keep_alive(body);
  const bool truncate = get_bool(body, "truncate").value_or(false);  // only when asked: never silent
  const bool no_prompt = (!chat && prompt.empty() && system.empty()) || (chat && messages.empty());
  // Ollama's way to unload: no prompt and keep_alive 0 (what `ollama stop` sends). The model is not loaded for it.
  if (no_prompt && keep_alive && keep_alive->count() == 0) {
    if (!state.models.unload(model_name) && !state.models.offers(model_name))
      throw ApiError(404, "model '" + model_name + "' not found");
    json j = {{"model", model_name}, {"created_at", rfc3339(std::chrono::system_clock::now())}, {"done", true},
              {"done_reason", "unload"}};
    if (chat) j["message"] = {{"role", "assistant"}, {"content", ""}};
    else j["response"] = "";
    send_json(res, j);
    return;
  }
  double load_ms = 0;
  auto lm = state.models.get(model_name, &load_ms, keep_alive);
  const auto created = std::chrono::system_clock::now();
  // Ollama answers a request without a prompt by loading the model.
  if (no_prompt) {
    json j = {{"model", lm->name}, {"created_at", rfc3339(created)}, {"done", true}, {"done_reason", "load"}};
    if (chat) j["message"] = {{"role", "assistant"}, {"content", ""}};
    else j["response"] = "";
    send_json(res, j);
    return;
  }
  // A store profile's parameters and system prompt are defaults: the request's own values win.
  apply_profile_parameters(lm->profile, body.contains("options") ? body["options"] : json(), ApiStyle::Ollama, params);
  if (chat && system.empty()) apply_profile_system(lm->profile, messages);
  if (!chat && !raw && system.empty()) system = lm->profile.system;
  std::vector<int32_t> tokens;
  if (chat) {
    if (!system.empty()) messages.insert(messages.begin(), {"system", system});
    tokens = tokenize_profile_chat(*lm->model, lm->profile, messages);
  } else if (raw) {
    tokens = lm->model->tokenize(prompt, true, true);
  } else {
    std::vector<ChatMessage> m;
    if (!system.empty()) m.push_back({"system", system});
    m.push_back({"user", prompt});
    tokens = tokenize_profile_chat(*lm->model, lm->profile, m);
  }
  const int dropped = fit_context(tokens, lm->scheduler->n_ctx(), -1, truncate,
                                  protected_prefix(*lm->model, tokens, chat ? messages : std::vector<ChatMessage>{}));
  auto job = GenerationJob::start(lm, std::move(tokens), params, state.totals);
  job->truncated_tokens = dropped;
  const std::string name = lm->name;
  const Model* tokens_of = lm->model.get();  // the job keeps the model loaded
  const bool logprobs = params.logprobs >= 0;
  // Ollama's logprobs: [{token, logprob, bytes, top_logprobs: [...]}] for the tokens whose text this object carries.
  auto message = [chat, name, job, tokens_of, logprobs](const std::string& text, bool done) {
    json j = {{"model", name}, {"created_at", rfc3339(std::chrono::system_clock::now())}};
    if (chat) j["message"] = {{"role", "assistant"}, {"content", text}};
    else j["response"] = text;
    if (logprobs) j["logprobs"] = chat_logprobs(*tokens_of, job->take_logprobs())["content"];
    j["done"] = done;
    return j;
  };
  auto failed = [](const GenerationJob& j) { return j.stats().stop_reason.rfind("error", 0) == 0; };
  if (!stream) {
    respond_whole(res, job, "application/json", [message, failed, load_ms, truncate](const GenerationJob& job, const std::string& text) {
      if (failed(job))
        return json{{"error", "generation failed: " + job.stats().stop_reason}}.dump(-1, ' ', false,
                                                                                    json::error_handler_t::replace);
      json j = message(text, true);
      add_stats(j, job, load_ms, truncate);
      return j.dump(-1, ' ', false, json::error_handler_t::replace);
    }, state.stopping);
    return;
  }
  StreamFormat fmt;
  fmt.content_type = "application/x-ndjson";
  fmt.piece = [message](const std::string& text) { return line(message(text, false)); };
  fmt.end = [message, failed, load_ms, truncate](const GenerationJob& job) {
    if (failed(job)) return line({{"error", "generation failed: " + job.stats().stop_reason}});
    json j = message("", true);
    add_stats(j, job, load_ms, truncate);
    return line(j);
  };
  respond_stream(res, job, std::move(fmt), state.stopping);
}

void show(ServeState& state, const httplib::Request& req, httplib::Response& res) {
  const json body = parse_body(req.body);
  std::string name = get_string(body, "model").value_or("");
  if (name.empty()) name = get_string(body, "name").value_or("");
  if (name.empty()) throw bad_request("missing required field 'model'", "missing_field");
  for (const ModelEntry& e : state.models.list()) {
    if (!same_model(e.name, name)) continue;
    ModelInfo info = inspect_model(e.path);
    json model_info = {{"general.architecture", info.arch},
                       {"general.name", info.name},
                       {"general.parameter_count", info.n_params},
                       {"general.file_type", info.file_type},
                       {info.arch + ".context_length", info.n_ctx_train},
                       {info.arch + ".embedding_length", info.n_embd},
                       {info.arch + ".block_count", info.n_layer},
                       {info.arch + ".attention.head_count", info.n_head},
                       {info.arch + ".attention.head_count_kv", info.n_head_kv},
                       {info.arch + ".feed_forward_length", info.n_ff},
                       {"tokenizer.ggml.model", info.tokenizer_model},
                       {"tokenizer.ggml.pre", info.tokenizer_pre},
                       {"tokenizer.ggml.vocab_size", info.n_vocab}};
    std::string modelfile = "# served by hearth\nFROM " + e.path + "\n";
    if (!e.profile.system.empty()) modelfile += "SYSTEM \"\"\"" + e.profile.system + "\"\"\"\n";
    for (const auto& [k, v] : e.profile.parameters)
      modelfile += "PARAMETER " + k + " " + (k == "stop" ? "\"" + v + "\"" : v) + "\n";
    if (!e.profile.tmpl.empty()) modelfile += "TEMPLATE \"\"\"" + e.profile.tmpl + "\"\"\"\n";
    json shown = {{"license", ""},
                  {"modelfile", modelfile},
                  {"parameters", format_parameters(e.profile.parameters)},
                  {"template", e.profile.tmpl.empty() ? info.chat_template : e.profile.tmpl},
                  {"details", details_of(e.path)},
                  {"model_info", model_info},
                  {"capabilities", {"completion"}},
                  {"modified_at", rfc3339(e.modified)}};
    if (!e.profile.system.empty()) shown["system"] = e.profile.system;
    if (!e.digest.empty()) shown["digest"] = e.digest;
    send_json(res, shown);
    return;
  }
  throw ApiError(404, "model '" + name + "' not found");
}

}  // namespace

void add_ollama_routes(httplib::Server& http, ServeState& state) {
  const ApiStyle S = ApiStyle::Ollama;
  http.Post("/api/generate", guarded(S, [&state](const httplib::Request& q, httplib::Response& r) {
              handle(state, false, q, r);
            }));
  http.Post("/api/chat", guarded(S, [&state](const httplib::Request& q, httplib::Response& r) {
              handle(state, true, q, r);
            }));
  http.Post("/api/show", guarded(S, [&state](const httplib::Request& q, httplib::Response& r) { show(state, q, r); }));
  http.Get("/api/tags", guarded(S, [&state](const httplib::Request&, httplib::Response& r) {
             // A file that cannot be read must not hide the others: it is named in "errors" (an extension, which
             // Ollama's clients ignore) rather than listed as a model that clients would offer.
             json models = json::array(), errors = json::array();
             for (const ModelEntry& e : state.models.list()) {
               try {
                 models.push_back(model_entry(e));
               } catch (const std::exception& ex) {
                 log_unreadable_model(state.options, e.path, ex.what());
                 std::string why = ex.what();  // the file's name, not where the server keeps it
                 if (const size_t at = why.find(e.path); at != std::string::npos)
                   why.replace(at, e.path.size(), std::filesystem::path(e.path).filename().string());
                 errors.push_back({{"name", e.name}, {"error", why}});
               }
             }
             json out = {{"models", models}};
             if (!errors.empty()) out["errors"] = errors;
             send_json(r, out);
           }));
  http.Get("/api/ps", guarded(S, [&state](const httplib::Request&, httplib::Response& r) {
             json models = json::array();
             for (const auto& lm : state.models.loaded()) models.push_back(running_entry(*lm));
             send_json(r, {{"models", models}});
           }));
  http.Get("/api/version", [](const httplib::Request&, httplib::Response& r) {
    send_json(r, {{"version", "0.1.0"}});
  });
  // /api/pull, /api/create, /api/copy, /api/delete: serve/store_api.cpp.
  // /api/embed, /api/embeddings: serve/embeddings_api.cpp. No registry to push to:
  http.Post("/api/push", not_implemented(S, "/api/push"));
}

}  // namespace hearth::serve
#endif  // HEARTH_HAVE_HTTP

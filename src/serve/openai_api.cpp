// OpenAI-compatible API: /v1/chat/completions, /v1/completions (SSE streaming or whole), /v1/models.
#ifdef HEARTH_HAVE_HTTP
#include <chrono>
#include <limits>

#include "sampling/param_limits.h"
#include "serve/chat_messages.h"
#include "serve/context_fit.h"
#include "serve/handler.h"
#include "serve/json_fields.h"
#include "serve/keep_alive.h"
#include "serve/logprobs_json.h"
#include "serve/serve_state.h"
#include "serve/store_models.h"
#include "serve/streaming.h"
#include "serve/structured_output.h"

namespace hearth::serve {
namespace {

int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// "logit_bias": {"token id": bias}. A bias is a number (OpenAI's range is -100..100; as llama.cpp, any number is
// taken, and one beyond a float's range means a ban, -inf, or a force, +inf), or false: a ban, as llama.cpp.
// Token ids are checked against the model's vocabulary once it is loaded (check_logit_bias).
std::vector<std::pair<int32_t, float>> parse_logit_bias(const json& bias) {
  std::vector<std::pair<int32_t, float>> out;
  for (auto it = bias.begin(); it != bias.end(); ++it) {
    int32_t id = 0;
    try {
      size_t used = 0;
      id = std::stoi(it.key(), &used);
      if (used != it.key().size() || id < 0) throw std::invalid_argument("");
    } catch (const std::exception&) {
      throw bad_request("'logit_bias' keys must be token ids (integers from 0), got '" + it.key() + "'",
                        "invalid_value");
    }
    const json& v = it.value();
    float b = 0;
    if (v.is_boolean() && !v.get<bool>()) {
      b = -std::numeric_limits<float>::infinity();
    } else if (v.is_number()) {
      // A double beyond the float range must not be converted (undefined behaviour): it saturates to inf.
      const double d = v.get<double>();
      const double max = std::numeric_limits<float>::max();
      b = d < -max ? -std::numeric_limits<float>::infinity()
          : d > max ? std::numeric_limits<float>::infinity()
                    : static_cast<float>(d);
    } else {
      throw bad_request("'logit_bias' values must be numbers (or false: ban the token), got " + v.dump(),
                        "invalid_type");
    }
    out.emplace_back(id, b);
  }
  return out;
}

void check_logit_bias(const SamplerParams& s, int n_vocab) {
  std::vector<bool> banned(static_cast<size_t>(n_vocab));
  size_t n_banned = 0;
  for (const auto& [id, b] : s.logit_bias) {
    if (id >= n_vocab)
      throw bad_request("'logit_bias' key " + std::to_string(id) + " is not a token id of this model (ids 0 to " +
                            std::to_string(n_vocab - 1) + ")",
                        "invalid_value");
    if (b == -std::numeric_limits<float>::infinity() && !banned[static_cast<size_t>(id)])
      banned[static_cast<size_t>(id)] = true, ++n_banned;
  }
  // Said before generating rather than by the sampler at the first token.
  if (n_banned == banned.size())
    throw bad_request("'logit_bias' bans every token of the model (a bias of -inf, false, or beyond -3.4e38 is a "
                      "ban): nothing could be generated",
                      "invalid_value");
}

// The sampling and length fields of a completion request. Unset fields keep hearth's defaults
// (llama.cpp's: temperature 0.8, top_k 40, top_p 0.95, min_p 0.05).
GenerateParams parse_params(const json& body) {
  GenerateParams g;
  SamplerParams& s = g.sampling;
  using sampling::kMaxInt;
  if (auto v = get_number_in(body, "temperature", 0, 2)) s.temperature = static_cast<float>(*v);
  if (auto v = get_number_in(body, "top_p", 0, 1)) s.top_p = static_cast<float>(*v);
  if (auto v = get_integer_in(body, "top_k", sampling::kMinTopK, kMaxInt)) s.top_k = static_cast<int>(*v);
  if (auto v = get_number_in(body, "min_p", 0, 1)) s.min_p = static_cast<float>(*v);
  if (auto v = get_number_in(body, "presence_penalty", -2, 2)) s.presence_penalty = static_cast<float>(*v);
  if (auto v = get_number_in(body, "frequency_penalty", -2, 2)) s.frequency_penalty = static_cast<float>(*v);
  // llama.cpp's server fields.
  if (auto v = get_number_above(body, "repeat_penalty", 0, 10)) s.repeat_penalty = static_cast<float>(*v);
  if (auto v = get_integer_in(body, "repeat_last_n", sampling::kMinRepeatLastN, kMaxInt))
    s.repeat_last_n = static_cast<int>(*v);
  if (auto v = get_seed(body, "seed")) s.seed = *v;
  const auto given = [&](const char* k) { return body.contains(k) && !body[k].is_null(); };
  const char* max_key = given("max_completion_tokens") ? "max_completion_tokens" : "max_tokens";
  if (auto max_tokens = get_integer_in(body, max_key, -1, kMaxInt)) {
    if (*max_tokens < 1 && *max_tokens != -1)
      throw bad_request("'" + std::string(max_key) + "' must be at least 1 (or -1: until the context is full), got " +
                            std::to_string(*max_tokens),
                        "invalid_value");
    g.n_predict = static_cast<int>(std::min<long long>(*max_tokens, 1 << 30));
  }
  g.stop = get_stop(body, "stop");
  if (auto v = get_bool(body, "cache_prompt")) g.cache_prompt = *v;  // llama.cpp server's fields
  if (auto v = get_bool(body, "ignore_eos")) g.ignore_eos = *v;
  if (auto n = get_integer(body, "n"); n && *n != 1)
    throw bad_request("'n' must be 1: hearth generates one choice per request (send several requests for several "
                      "choices), got " + std::to_string(*n),
                      "invalid_value");
  if (const json* bias = get_object(body, "logit_bias")) s.logit_bias = parse_logit_bias(*bias);
  return g;
}

// A model as OpenAI's /v1/models lists it.
json model_object(const ModelEntry& e) {
  return {{"id", e.name},
          {"object", "model"},
          {"created", std::chrono::duration_cast<std::chrono::seconds>(e.modified.time_since_epoch()).count()},
          {"owned_by", "hearth"}};
}

// truncate: the request allowed truncation, so the usage says how many prompt tokens were dropped (an extension).
json usage_of(const GenerationJob& job, bool truncate) {
  const int n_gen = job.stats().n_gen;
  json u = {{"prompt_tokens", job.n_prompt()}, {"completion_tokens", n_gen}, {"total_tokens", job.n_prompt() + n_gen}};
  if (truncate) u["truncated_tokens"] = job.truncated_tokens;
  return u;
}

// llama.cpp's server reports these beside usage.
json timings_of(const GenerationJob& job) {
  const GenerateStats& st = job.stats();
  // As llama.cpp's: prompt_n counts the tokens evaluated, cache_n those reused from an earlier request.
  return {{"cache_n", st.n_cached},
          {"prompt_n", st.n_prompt},
          {"prompt_ms", st.prompt_ms},
          {"prompt_per_second", st.prompt_ms > 0 ? st.n_prompt * 1000.0 / st.prompt_ms : 0.0},
          {"predicted_n", st.n_gen},
          {"predicted_ms", st.gen_ms},
          {"predicted_per_second", st.gen_ms > 0 ? st.n_gen * 1000.0 / st.gen_ms : 0.0},
          {"ttft_ms", st.ttft_ms},
          {"total_ms", job.total_ms()}};
}

std::string sse(const json& j) { return "data: " + j.dump(-1, ' ', false, json::error_handler_t::replace) + "\n\n"; }

// A stop reason that is an error ("error: ...") after the response started.
bool failed(const GenerationJob& job) { return job.stats().stop_reason.rfind("error", 0) == 0; }

struct Completion {
  bool chat;
  std::string id;
  std::string model;
  int64_t created;
  const Model* tokens;     // for logprobs' token texts (the job keeps the model loaded)
  bool logprobs = false;
  size_t text_offset = 0;  // completions' logprobs: where the next token starts in the generated text
  // The logprobs object for lps, or null when not asked for.
  json logprobs_of(const std::vector<TokenLogprob>& lps) {
    if (!logprobs) return nullptr;
    return chat ? chat_logprobs(*tokens, lps) : completion_logprobs(*tokens, lps, text_offset);
  }
  json choice_end(const GenerationJob& job) const { return finish_reason(job.stats().stop_reason); }
};

void handle(ServeState& state, bool chat, const httplib::Request& req, httplib::Response& res) {
  const json body = parse_body(req.body);
  const std::string model_name = require_string(body, "model");
  std::vector<ChatMessage> messages;
  std::string prompt;
  if (chat) {
    messages = parse_messages(body);
  } else {
    auto p = body.find("prompt");
    if (p == body.end() || p->is_null()) throw bad_request("missing required field 'prompt'", "missing_field");
    if (p->is_array() && p->size() == 1 && (*p)[0].is_string()) prompt = (*p)[0].get<std::string>();
    else if (p->is_string()) prompt = p->get<std::string>();
    else throw bad_request("'prompt' must be a string (one prompt per request)", "invalid_type");
  }
  GenerateParams params = parse_params(body);
  parse_response_format(req.body, body, params);
  params.logprobs = parse_logprobs_request(body, chat);
  const bool truncate = get_bool(body, "truncate").value_or(false);  // an extension: keep the latest tokens
  const std::optional<KeepAlive> keep_alive = parse_keep_alive(body);     // an extension, as Ollama's
  const bool stream = get_bool(body, "stream").value_or(false);
  bool include_usage = false;
  if (const json* so = get_object(body, "stream_options")) include_usage = get_bool(*so, "include_usage").value_or(false);

  auto lm = state.models.get(model_name, nullptr, keep_alive);
  // A store profile's parameters and system prompt are defaults: the request's own values win.
  apply_profile_parameters(lm->profile, body, ApiStyle::OpenAI, params);
  check_logit_bias(params.sampling, lm->model->info().n_vocab);
  if (chat) apply_profile_system(lm->profile, messages);
  std::vector<int32_t> tokens =
      chat ? tokenize_profile_chat(*lm->model, lm->profile, messages) : lm->model->tokenize(prompt, true, true);
  // OpenAI's rule: the prompt plus the max_tokens the client asked for must fit the context.
  const bool has_max = body.contains("max_tokens") || body.contains("max_completion_tokens");
  const int dropped = fit_context(tokens, lm->scheduler->n_ctx(), has_max ? params.n_predict : -1, truncate,
                                  protected_prefix(*lm->model, tokens, messages));
  auto job = GenerationJob::start(lm, std::move(tokens), params, state.totals);
  job->truncated_tokens = dropped;

  auto c = std::make_shared<Completion>();
  c->chat = chat;
  c->id = (chat ? "chatcmpl-" : "cmpl-") + std::to_string(state.next_id++);
  c->model = lm->name;
  c->created = unix_now();
  c->tokens = lm->model.get();
  c->logprobs = params.logprobs >= 0;
  const char* object = chat ? "chat.completion" : "text_completion";

  if (!stream) {
    respond_whole(res, job, "application/json", [c, object, truncate](GenerationJob& job, const std::string& text) {
      if (failed(job))
        return error_body(ApiStyle::OpenAI, 500, "generation failed: " + job.stats().stop_reason)
            .dump(-1, ' ', false, json::error_handler_t::replace);
      json choice = {{"index", 0}, {"logprobs", c->logprobs_of(job.take_logprobs())}, {"finish_reason", c->choice_end(job)}};
      if (c->chat) choice["message"] = {{"role", "assistant"}, {"content", text}};
      else choice["text"] = text;
      return json{{"id", c->id},
                  {"object", object},
                  {"created", c->created},
                  {"model", c->model},
                  {"system_fingerprint", "hearth"},
                  {"choices", json::array({choice})},
                  {"usage", usage_of(job, truncate)},
                  {"timings", timings_of(job)}}
          .dump(-1, ' ', false, json::error_handler_t::replace);
    }, state.stopping);
    return;
  }

  const char* chunk_object = chat ? "chat.completion.chunk" : "text_completion";
  auto chunk = [c, chunk_object](json choice) {
    return json{{"id", c->id},          {"object", chunk_object}, {"created", c->created},
                {"model", c->model},    {"system_fingerprint", "hearth"}, {"choices", json::array({choice})}};
  };
  auto first = std::make_shared<bool>(true);
  StreamFormat fmt;
  fmt.content_type = "text/event-stream";
  fmt.piece = [c, chunk, first, job](const std::string& text) {
    std::string out;
    if (c->chat && *first)  // the role comes first, as OpenAI sends it
      out += sse(chunk({{"index", 0}, {"delta", {{"role", "assistant"}, {"content", ""}}}, {"logprobs", nullptr},
                        {"finish_reason", nullptr}}));
    *first = false;
    json choice = {{"index", 0}, {"logprobs", c->logprobs_of(job->take_logprobs())}, {"finish_reason", nullptr}};
    if (c->chat) choice["delta"] = {{"content", text}};
    else choice["text"] = text;
    return out + sse(chunk(choice));
  };
  fmt.end = [c, chunk, include_usage, truncate](GenerationJob& job) {
    if (failed(job))
      return sse(error_body(ApiStyle::OpenAI, 500, "generation failed: " + job.stats().stop_reason)) +
             "data: [DONE]\n\n";
    // Tokens whose text came with the last piece (or was cut by a stop string) may still have logprobs.
    std::vector<TokenLogprob> rest = job.take_logprobs();
    json choice = {{"index", 0}, {"logprobs", rest.empty() ? json(nullptr) : c->logprobs_of(rest)},
                   {"finish_reason", c->choice_end(job)}};
    if (c->chat) choice["delta"] = json::object();
    else choice["text"] = "";
    json last = chunk(choice);
    last["timings"] = timings_of(job);
    std::string out = sse(last);
    if (include_usage) {
      json u = chunk(choice);
      u["choices"] = json::array();
      u["usage"] = usage_of(job, truncate);
      out += sse(u);
    }
    return out + "data: [DONE]\n\n";
  };
  respond_stream(res, job, std::move(fmt), state.stopping);
}

}  // namespace

void add_openai_routes(httplib::Server& http, ServeState& state) {
  const ApiStyle S = ApiStyle::OpenAI;
  http.Post("/v1/chat/completions", guarded(S, [&state](const httplib::Request& q, httplib::Response& r) {
              handle(state, true, q, r);
            }));
  http.Post("/v1/completions", guarded(S, [&state](const httplib::Request& q, httplib::Response& r) {
              handle(state, false, q, r);
            }));
  http.Get("/v1/models", guarded(S, [&state](const httplib::Request&, httplib::Response& r) {
             json data = json::array();
             for (const ModelEntry& e : state.models.list()) data.push_back(model_object(e));
             send_json(r, {{"object", "list"}, {"data", data}});
           }));
  // The official clients' models.retrieve: one model object, or OpenAI's 404 for an id that is not served.
  http.Get(R"(/v1/models/(.+))", guarded(S, [&state](const httplib::Request& q, httplib::Response& r) {
             const std::string id = q.matches[1];
             for (const ModelEntry& e : state.models.list())
               if (same_model(e.name, id)) return send_json(r, model_object(e));
             throw ApiError(404, "The model '" + id + "' does not exist", "invalid_request_error", "model_not_found");
           }));
  // /v1/embeddings: serve/embeddings_api.cpp.
}

}  // namespace hearth::serve
#endif  // HEARTH_HAVE_HTTP

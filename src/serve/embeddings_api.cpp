// Embeddings over HTTP: OpenAI's POST /v1/embeddings, Ollama's POST /api/embed and its legacy
// POST /api/embeddings.
//
// Concurrency: each request embeds on its own short-lived Session (hearth::embed) over the loaded Model that
// the scheduler generates with. The CPU backend's per-pass state (batch positions, matmul scratch, its one
// thread pool) is not safe for two passes at once, so every session's forward pass takes the model's
// forward lock (Session, model_impl.h): an embedding pass runs between two generation steps and delays them by
// at most one pass (n_batch tokens), and generations are never disturbed otherwise.
#ifdef HEARTH_HAVE_HTTP
#include "serve/embeddings_api.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>

#include "hearth/embed.h"
#include "serve/handler.h"
#include "serve/json_fields.h"
#include "serve/serve_state.h"

namespace hearth::serve {
namespace {

using Clock = std::chrono::steady_clock;

double ms_since(Clock::time_point t0) { return std::chrono::duration<double, std::milli>(Clock::now() - t0).count(); }

// The context an input must fit: the server's per-sequence context (--ctx-size), else the model's up to 4096,
// the same limit generations have.
int context_of(const ServeState& state, const Model& model) {
  if (state.options.n_ctx > 0) return state.options.n_ctx;
  const int train = model.info().n_ctx_train;
  return train > 0 ? std::min(train, 4096) : 4096;
}

// The loaded model to embed with; a model served over a pipeline has no process holding all its layers.
std::shared_ptr<LoadedModel> embedding_model(ServeState& state, const std::string& name, double* load_ms = nullptr) {
  auto lm = state.models.get(name, load_ms);
  if (lm->external)
    throw ApiError(501, "model '" + lm->name + "' is served over a pipeline of processes: embeddings are not",
                   "not_implemented_error");
  return lm;
}

// Optional "pooling" (a hearth extension): mean (default), last or cls.
Pooling pooling_of(const json& body) {
  auto name = get_string(body, "pooling");
  if (!name) return Pooling::Mean;
  try {
    return parse_pooling(*name);
  } catch (const Error& e) {
    throw bad_request(std::string("'pooling': ") + e.what(), "invalid_value");
  }
}

// Little-endian float32 bytes in base64, as OpenAI's encoding_format "base64" sends them.
std::string base64_floats(const std::vector<float>& v) {
  static const char* kAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string bytes(v.size() * sizeof(float), '\0');
  std::memcpy(bytes.data(), v.data(), bytes.size());  // x86 and arm64 hosts are little-endian
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  for (size_t i = 0; i < bytes.size(); i += 3) {
    uint32_t n = static_cast<uint8_t>(bytes[i]) << 16;
    if (i + 1 < bytes.size()) n |= static_cast<uint8_t>(bytes[i + 1]) << 8;
    if (i + 2 < bytes.size()) n |= static_cast<uint8_t>(bytes[i + 2]);
    out += kAlphabet[(n >> 18) & 63];
    out += kAlphabet[(n >> 12) & 63];
    out += i + 1 < bytes.size() ? kAlphabet[(n >> 6) & 63] : '=';
    out += i + 2 < bytes.size() ? kAlphabet[n & 63] : '=';
  }
  return out;
}

// A token-id array element: an integer (400 naming the field otherwise).
int32_t token_id(const json& v, const char* field) {
  if (!v.is_number_integer())
    throw bad_request(std::string("'") + field + "' token arrays must hold integers, got " + v.type_name(),
                      "invalid_type");
  return static_cast<int32_t>(std::clamp<long long>(v.get<long long>(), -1, INT32_MAX));
}

// OpenAI's input: a string, an array of strings, an array of token ids, or an array of such arrays.
std::vector<std::vector<int32_t>> openai_inputs(const json& body, const Model& model) {
  auto it = body.find("input");
  if (it == body.end() || it->is_null()) throw bad_request("'input' is required", "missing_field");
  const json& in = *it;
  const char* want = "'input' must be a string, an array of strings, an array of token ids or an array of arrays";
  if (in.is_string()) return {embed_tokenize(model, in.get<std::string>())};
  if (!in.is_array()) throw bad_request(std::string(want) + ", got " + in.type_name(), "invalid_type");
  if (in.empty()) throw bad_request("'input' must not be empty", "invalid_value");
  std::vector<std::vector<int32_t>> out;
  if (in[0].is_number()) {  // one input given as token ids
    std::vector<int32_t> ids;
    for (const json& v : in) ids.push_back(token_id(v, "input"));
    out.push_back(std::move(ids));
    return out;
  }
  for (const json& e : in) {
    if (e.is_string()) {
      out.push_back(embed_tokenize(model, e.get<std::string>()));
    } else if (e.is_array()) {
      if (e.empty()) throw bad_request("'input' token arrays must not be empty", "invalid_value");
      std::vector<int32_t> ids;
      for (const json& v : e) ids.push_back(token_id(v, "input"));
      out.push_back(std::move(ids));
    } else {
      throw bad_request(std::string(want) + "; an element is " + e.type_name(), "invalid_type");
    }
  }
  return out;
}

// Token ids must name tokens of the model (400 otherwise, before any work).
void check_ids(const std::vector<std::vector<int32_t>>& inputs, const Model& model) {
  const int n_vocab = model.info().n_vocab;
  for (size_t i = 0; i < inputs.size(); ++i)
    for (int32_t t : inputs[i])
      if (t < 0 || t >= n_vocab)
        throw bad_request("input " + std::to_string(i) + ": token id " + std::to_string(t) +
                              " is outside the vocabulary (" + std::to_string(n_vocab) + " tokens)",
                          "invalid_value");
}

void check_lengths(const std::vector<std::vector<int32_t>>& inputs, int n_ctx, const char* hint) {
  for (size_t i = 0; i < inputs.size(); ++i)
    if (static_cast<int>(inputs[i].size()) > n_ctx)
      throw bad_request("input " + std::to_string(i) + " has " + std::to_string(inputs[i].size()) +
                            " tokens, more than the context of " + std::to_string(n_ctx) + hint,
                        "context_length_exceeded");
}

size_t count_tokens(const std::vector<std::vector<int32_t>>& inputs) {
  size_t n = 0;
  for (const auto& in : inputs) n += in.size();
  return n;
}

void openai_embeddings(ServeState& state, const httplib::Request& req, httplib::Response& res) {
  const json body = parse_body(req.body);
  const std::string model_name = require_string(body, "model");
  const std::string format = get_string(body, "encoding_format").value_or("float");
  if (format != "float" && format != "base64")
    throw bad_request("'encoding_format' must be \"float\" or \"base64\", got \"" + format + "\"", "invalid_value");
  EmbedParams params;
  params.pooling = pooling_of(body);
  auto lm = embedding_model(state, model_name);
  Model& model = *lm->model;
  const int n_embd = model.info().n_embd;
  int dims = n_embd;
  if (auto d = get_integer(body, "dimensions")) {
    if (*d < 1 || *d > n_embd)
      throw bad_request("'dimensions' must be between 1 and " + std::to_string(n_embd) + " for this model, got " +
                            std::to_string(*d),
                        "invalid_value");
    dims = static_cast<int>(*d);
  }
  const auto inputs = openai_inputs(body, model);
  check_ids(inputs, model);
  params.n_ctx = context_of(state, model);
  check_lengths(inputs, params.n_ctx, " (inputs are never truncated here)");
  params.n_batch = state.options.n_batch;
  auto vectors = embed(model, inputs, params);
  json data = json::array();
  for (size_t i = 0; i < vectors.size(); ++i) {
    std::vector<float>& v = vectors[i];
    if (dims < n_embd) {  // shortened as OpenAI's text-embedding-3 models do: the first dims, unit length again
      v.resize(dims);
      l2_normalize(v);
    }
    json e = {{"object", "embedding"}, {"index", i}};
    if (format == "base64") e["embedding"] = base64_floats(v);
    else e["embedding"] = v;
    data.push_back(std::move(e));
  }
  const size_t n_tokens = count_tokens(inputs);
  send_json(res, {{"object", "list"},
                  {"data", std::move(data)},
                  {"model", lm->name},
                  {"usage", {{"prompt_tokens", n_tokens}, {"total_tokens", n_tokens}}}});
}

// keep_alive is accepted as Ollama does (a duration string or seconds); the registry decides what stays loaded.
void check_keep_alive(const json& body) {
  auto it = body.find("keep_alive");
  if (it != body.end() && !it->is_null() && !it->is_string() && !it->is_number())
    throw bad_request(std::string("'keep_alive' must be a duration string or a number, got ") + it->type_name(),
                      "invalid_type");
  get_object(body, "options");  // type-checked; embedding has no options that change the result
}

int64_t ns(double ms) { return static_cast<int64_t>(ms * 1e6); }

void ollama_embed(ServeState& state, const httplib::Request& req, httplib::Response& res) {
  const auto t0 = Clock::now();
  const json body = parse_body(req.body);
  const std::string model_name = require_string(body, "model");
  const bool truncate = get_bool(body, "truncate").value_or(true);
  check_keep_alive(body);
  EmbedParams params;
  params.pooling = pooling_of(body);
  std::vector<std::string> texts;
  if (auto it = body.find("input"); it != body.end() && !it->is_null()) {
    if (it->is_string()) {
      texts.push_back(it->get<std::string>());
    } else if (it->is_array()) {
      for (const json& e : *it) {
        if (!e.is_string())
          throw bad_request(std::string("'input' must be a string or an array of strings; an element is ") +
                            e.type_name());
        texts.push_back(e.get<std::string>());
      }
    } else {
      throw bad_request(std::string("'input' must be a string or an array of strings, got ") + it->type_name());
    }
  }
  double load_ms = 0;
  auto lm = embedding_model(state, model_name, &load_ms);
  Model& model = *lm->model;
  params.n_ctx = context_of(state, model);
  params.n_batch = state.options.n_batch;
  std::vector<std::vector<int32_t>> inputs;
  for (const std::string& t : texts) inputs.push_back(embed_tokenize(model, t));
  if (truncate) {  // Ollama keeps the first n_ctx tokens
    for (auto& in : inputs)
      if (static_cast<int>(in.size()) > params.n_ctx) in.resize(params.n_ctx);
  } else {
    check_lengths(inputs, params.n_ctx, " (\"truncate\": false)");
  }
  const auto vectors = embed(model, inputs, params);  // no input: the model is loaded, nothing embedded
  send_json(res, {{"model", lm->name},
                  {"embeddings", vectors},
                  {"total_duration", ns(ms_since(t0))},
                  {"load_duration", ns(load_ms)},
                  {"prompt_eval_count", count_tokens(inputs)}});
}

// The legacy endpoint: one prompt, its embedding not normalized (as Ollama's /api/embeddings).
void ollama_embeddings(ServeState& state, const httplib::Request& req, httplib::Response& res) {
  const json body = parse_body(req.body);
  const std::string model_name = require_string(body, "model");
  const std::string prompt = get_string(body, "prompt").value_or("");
  check_keep_alive(body);
  EmbedParams params;
  params.pooling = pooling_of(body);
  params.normalize = false;
  auto lm = embedding_model(state, model_name);
  Model& model = *lm->model;
  if (prompt.empty()) {  // Ollama loads the model and answers an empty embedding
    send_json(res, {{"embedding", json::array()}});
    return;
  }
  params.n_ctx = context_of(state, model);
  params.n_batch = state.options.n_batch;
  const std::vector<std::vector<int32_t>> inputs = {embed_tokenize(model, prompt)};
  check_lengths(inputs, params.n_ctx, "");
  send_json(res, {{"embedding", embed(model, inputs, params)[0]}});
}

}  // namespace

void add_embedding_routes(httplib::Server& http, ServeState& state) {
  http.Post("/v1/embeddings", guarded(ApiStyle::OpenAI, [&state](const httplib::Request& q, httplib::Response& r) {
              openai_embeddings(state, q, r);
            }));
  http.Post("/api/embed", guarded(ApiStyle::Ollama, [&state](const httplib::Request& q, httplib::Response& r) {
              ollama_embed(state, q, r);
            }));
  http.Post("/api/embeddings", guarded(ApiStyle::Ollama, [&state](const httplib::Request& q, httplib::Response& r) {
              ollama_embeddings(state, q, r);
            }));
}

}  // namespace hearth::serve
#endif  // HEARTH_HAVE_HTTP

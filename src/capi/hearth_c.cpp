// The C API (include/hearth/hearth.h) over the C++ one: every entry point catches what the C++ side throws and
// turns it into a NULL / -1 return and a message for hearth_last_error().
#include "hearth/hearth.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <memory>
#include <new>
#include <string>
#include <vector>

#include "hearth/chat.h"
#include "hearth/choices.h"
#include "hearth/embed.h"
#include "hearth/error.h"
#include "hearth/generate.h"
#include "hearth/model.h"

struct hearth_model {
  std::unique_ptr<hearth::Model> model;
};

namespace {

thread_local std::string last_error;

// Runs f, returning its result; on an exception records the message and returns fail.
template <class F, class R>
R guarded(F&& f, R fail) {
  try {
    last_error.clear();
    return f();
  } catch (const std::exception& e) {
    last_error = e.what();
  } catch (...) {
    last_error = "unknown error";
  }
  return fail;
}

void require(bool ok, const char* what) {
  if (!ok) throw hearth::Error(what);
}

char* copy_string(const std::string& s) {
  char* out = static_cast<char*>(std::malloc(s.size() + 1));
  if (!out) throw std::bad_alloc();
  std::memcpy(out, s.data(), s.size());
  out[s.size()] = '\0';
  return out;
}

hearth::GenerateParams generate_params(const hearth_generate_params* p) {
  const hearth_generate_params d = hearth_generate_params_default();
  if (!p) p = &d;
  hearth::GenerateParams g;
  g.n_predict = p->n_predict;
  g.sampling.temperature = p->temperature;
  g.sampling.top_k = p->top_k;
  g.sampling.top_p = p->top_p;
  g.sampling.min_p = p->min_p;
  g.sampling.repeat_penalty = p->repeat_penalty;
  g.sampling.seed = p->seed;
  require(p->n_stop >= 0 && (p->n_stop == 0 || p->stop), "stop: n_stop strings are needed");
  for (int i = 0; i < p->n_stop; ++i) {
    require(p->stop[i] != nullptr, "stop: a NULL string");
    g.stop.emplace_back(p->stop[i]);
  }
  g.json = p->json != 0;
  if (p->json_schema) {
    require(g.json, "json_schema needs json");
    hearth::check_json_schema(p->json_schema);
    g.json_schema = p->json_schema;
  }
  return g;
}

// Generates after tokens in a fresh session; the whole text, pieces also to callback.
std::string run(hearth_model* m, const std::vector<int32_t>& tokens, const hearth_generate_params* p,
                hearth_text_callback callback, void* user) {
  const hearth::GenerateParams g = generate_params(p);
  hearth::SessionParams sp;
  sp.n_ctx = p ? p->n_ctx : 0;
  hearth::Session session(*m->model, sp);
  std::string text;
  hearth::generate(session, tokens, g, [&](const std::string& piece) {
    text += piece;
    return callback == nullptr || callback(piece.data(), piece.size(), user) != 0;
  });
  return text;
}

}  // namespace

extern "C" {

hearth_load_params hearth_load_params_default(void) { return hearth_load_params{0, -1}; }

hearth_generate_params hearth_generate_params_default(void) {
  const hearth::SamplerParams s;
  hearth_generate_params p{};
  p.n_predict = -1;
  p.temperature = s.temperature;
  p.top_k = s.top_k;
  p.top_p = s.top_p;
  p.min_p = s.min_p;
  p.repeat_penalty = s.repeat_penalty;
  p.seed = s.seed;
  return p;
}

const char* hearth_last_error(void) { return last_error.c_str(); }

void hearth_free_string(char* s) { std::free(s); }

hearth_model* hearth_model_load(const char* path, const hearth_load_params* params) {
  return guarded(
      [&]() -> hearth_model* {
        require(path != nullptr, "model path: NULL");
        hearth::LoadParams lp;
        if (params) lp.n_threads = params->n_threads, lp.n_gpu_layers = params->n_gpu_layers;
        auto m = std::make_unique<hearth_model>();
        m->model = hearth::Model::load(path, lp);
        return m.release();
      },
      static_cast<hearth_model*>(nullptr));
}

void hearth_model_free(hearth_model* model) { delete model; }

const char* hearth_model_arch(const hearth_model* model) { return model ? model->model->info().arch.c_str() : ""; }
int hearth_model_n_vocab(const hearth_model* model) { return model ? model->model->info().n_vocab : -1; }
int hearth_model_n_embd(const hearth_model* model) { return model ? model->model->info().n_embd : -1; }
int hearth_model_n_ctx_train(const hearth_model* model) { return model ? model->model->info().n_ctx_train : -1; }

int hearth_tokenize(const hearth_model* model, const char* text, int add_bos, int parse_special, int32_t* out,
                    int cap) {
  return guarded(
      [&]() {
        require(model && text, "tokenize: NULL model or text");
        require(cap == 0 || out, "tokenize: NULL output with a capacity");
        const std::vector<int32_t> ids = model->model->tokenize(text, add_bos != 0, parse_special != 0);
        std::copy_n(ids.begin(), std::min<size_t>(ids.size(), static_cast<size_t>(std::max(cap, 0))), out);
        return static_cast<int>(ids.size());
      },
      -1);
}

char* hearth_detokenize(const hearth_model* model, const int32_t* ids, int n) {
  return guarded(
      [&]() {
        require(model && (ids || n == 0) && n >= 0, "detokenize: NULL model or ids");
        const int V = model->model->info().n_vocab;
        for (int i = 0; i < n; ++i)
          require(ids[i] >= 0 && ids[i] < V, "detokenize: a token id outside the vocabulary");
        return copy_string(model->model->detokenize(std::vector<int32_t>(ids, ids + n)));
      },
      static_cast<char*>(nullptr));
}

char* hearth_generate(hearth_model* model, const char* prompt, const hearth_generate_params* params,
                      hearth_text_callback callback, void* user) {
  return guarded(
      [&]() {
        require(model && prompt, "generate: NULL model or prompt");
        return copy_string(run(model, model->model->tokenize(prompt, true, true), params, callback, user));
      },
      static_cast<char*>(nullptr));
}

char* hearth_chat(hearth_model* model, const char* const* roles, const char* const* contents, int n_messages,
                  const hearth_generate_params* params, hearth_text_callback callback, void* user) {
  return guarded(
      [&]() {
        require(model && n_messages > 0 && roles && contents, "chat: NULL model or no messages");
        std::vector<hearth::ChatMessage> messages;
        for (int i = 0; i < n_messages; ++i) {
          require(roles[i] && contents[i], "chat: a NULL role or content");
          messages.push_back({roles[i], contents[i]});
        }
        return copy_string(run(model, model->model->tokenize_chat(messages, true), params, callback, user));
      },
      static_cast<char*>(nullptr));
}

int hearth_choices(hearth_model* model, const char* prompt, const char* const* choices, int n, double* probs,
                   double* logprobs) {
  return guarded(
      [&]() {
        require(model && prompt && choices && probs && n > 0, "choices: NULL model, prompt, choices or output");
        std::vector<std::string> texts;
        for (int i = 0; i < n; ++i) {
          require(choices[i] != nullptr, "choices: a NULL choice");
          texts.emplace_back(choices[i]);
        }
        const auto scores = hearth::score_choices(*model->model, model->model->tokenize(prompt, true, true), texts);
        for (int i = 0; i < n; ++i) {
          probs[i] = scores[i].probability;
          if (logprobs) logprobs[i] = scores[i].logprob;
        }
        return 0;
      },
      -1);
}

int hearth_embed(hearth_model* model, const char* text, float* out, int cap) {
  return guarded(
      [&]() {
        require(model && text && (out || cap == 0), "embed: NULL model, text or output");
        const auto v = hearth::embed(*model->model, {hearth::embed_tokenize(*model->model, text)});
        const int n = static_cast<int>(v[0].size());
        std::copy_n(v[0].begin(), std::min(n, std::max(cap, 0)), out);
        return n;
      },
      -1);
}

}  // extern "C"

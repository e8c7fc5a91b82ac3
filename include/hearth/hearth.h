/* hearth's C API: load a GGUF model, tokenize, generate (streamed through a callback), chat in the model's
 * template, and embed, from C or any language with a C FFI. A thin layer over the C++ API (hearth/model.h,
 * generate.h, embed.h).
 *
 * Errors: a function that fails returns NULL or -1 and leaves a message for hearth_last_error() (per thread).
 * Strings hearth returns are freed with hearth_free_string(). A model may be used from several threads; each
 * call makes its own session (KV cache), so calls are independent: give chat the whole conversation.
 */
#ifndef HEARTH_H
#define HEARTH_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct hearth_model hearth_model;

typedef struct {
  int n_threads;     /* CPU threads; 0: one per physical core */
  int n_gpu_layers;  /* layers on GPUs: -1 automatic from free memory, 0 CPU only */
} hearth_load_params;

typedef struct {
  int n_predict;          /* tokens to generate; -1: until end of generation or the context is full */
  int n_ctx;              /* context (prompt + generated); 0: the model's training context, at most 4096 */
  float temperature;      /* 0: greedy */
  int top_k;              /* <= 0: off */
  float top_p;            /* >= 1: off */
  float min_p;            /* <= 0: off */
  float repeat_penalty;   /* 1: off */
  uint64_t seed;          /* 0xFFFFFFFF: random */
  const char* const* stop; /* n_stop stop strings (not part of the output), or NULL */
  int n_stop;
  int json;               /* nonzero: the output is one JSON value */
  const char* json_schema; /* with json: an instance of this schema (JSON text), or NULL for any object */
} hearth_generate_params;

/* Called with each piece of generated text as it becomes final (not NUL-terminated); return 0 to stop. */
typedef int (*hearth_text_callback)(const char* text, size_t len, void* user);

hearth_load_params hearth_load_params_default(void);
hearth_generate_params hearth_generate_params_default(void);

/* The message of the last failed call on this thread ("" when none). */
const char* hearth_last_error(void);
void hearth_free_string(char* s);

hearth_model* hearth_model_load(const char* path, const hearth_load_params* params /* NULL: defaults */);
void hearth_model_free(hearth_model* model);
const char* hearth_model_arch(const hearth_model* model); /* general.architecture; valid while the model is */
int hearth_model_n_vocab(const hearth_model* model);
int hearth_model_n_embd(const hearth_model* model);
int hearth_model_n_ctx_train(const hearth_model* model);

/* Token ids of text (BOS first when add_bos and the vocabulary wants it; special tokens such as <|im_end|>
 * recognized when parse_special). Writes at most cap ids; returns how many the text has (call again with a
 * larger buffer when that is more than cap), or -1. */
int hearth_tokenize(const hearth_model* model, const char* text, int add_bos, int parse_special, int32_t* out,
                    int cap);
/* The text of n token ids, or NULL. */
char* hearth_detokenize(const hearth_model* model, const int32_t* ids, int n);

/* The continuation of prompt (tokenized with BOS and special tokens); callback may be NULL. Returns the whole
 * generated text, or NULL. */
char* hearth_generate(hearth_model* model, const char* prompt, const hearth_generate_params* params,
                      hearth_text_callback callback, void* user);
/* The assistant's reply to n messages (roles "system", "user", "assistant") in the model's chat template. */
char* hearth_chat(hearth_model* model, const char* const* roles, const char* const* contents, int n_messages,
                  const hearth_generate_params* params, hearth_text_callback callback, void* user);
/* Each of n choices' probability (and log-probability, when logprobs is not NULL) as the continuation of prompt,
 * scored in one pass: probs[n] sums to 1. Returns 0, or -1. */
int hearth_choices(hearth_model* model, const char* prompt, const char* const* choices, int n, double* probs,
                   double* logprobs);
/* The embedding of text (mean-pooled, unit length, as llama.cpp's llama-embedding): writes at most cap floats;
 * returns n_embd, or -1. */
int hearth_embed(hearth_model* model, const char* text, float* out, int cap);

#ifdef __cplusplus
}
#endif

#endif /* HEARTH_H */

/* The C API (include/hearth/hearth.h), compiled as C: stories260K through it tokenizes as llama.cpp does and
 * generates llama.cpp's greedy text; errors come back as NULL / -1 with a message. Exit status 77: skipped
 * (no fixtures). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hearth/hearth.h"

static int failures = 0;
#define CHECK(cond)                                                         \
  do {                                                                      \
    if (!(cond)) {                                                          \
      fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
      ++failures;                                                           \
    }                                                                       \
  } while (0)

struct collected {
  char text[8192];
  size_t len;
  int calls;
  int stop_after; /* 0: never */
};

static int collect(const char* text, size_t len, void* user) {
  struct collected* c = (struct collected*)user;
  if (c->len + len < sizeof c->text) {
    memcpy(c->text + c->len, text, len);
    c->len += len;
    c->text[c->len] = '\0';
  }
  ++c->calls;
  return c->stop_after == 0 || c->calls < c->stop_after;
}

static char* read_file(const char* path) {
  FILE* f = fopen(path, "rb");
  if (!f) return NULL;
  static char buf[16384];
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[n] = '\0';
  return buf;
}

int main(void) {
  char path[1024], ref_path[1024];
  snprintf(path, sizeof path, "%s/stories260K/stories260K.gguf", HEARTH_FIXTURES);
  snprintf(ref_path, sizeof ref_path, "%s/stories260K/expected/llama.cpp-c392e50/"
           "stories260K.llama-simple_n200_prompt-Once-upon-a-time.txt", HEARTH_FIXTURES);
  const char* ref = read_file(ref_path);
  if (!ref) {
    fprintf(stderr, "skipped: %s is missing\n", ref_path);
    return 77;
  }

  /* Errors: NULL and a message naming the file. */
  CHECK(hearth_model_load("/nonexistent/model.gguf", NULL) == NULL);
  CHECK(strstr(hearth_last_error(), "/nonexistent/model.gguf") != NULL);

  hearth_load_params lp = hearth_load_params_default();
  lp.n_threads = 2;
  lp.n_gpu_layers = 0;
  hearth_model* m = hearth_model_load(path, &lp);
  CHECK(m != NULL);
  if (!m) return 1;
  CHECK(strcmp(hearth_last_error(), "") == 0);
  CHECK(strcmp(hearth_model_arch(m), "llama") == 0);
  CHECK(hearth_model_n_vocab(m) == 512 && hearth_model_n_embd(m) == 64);

  /* llama.cpp's ids for "Once upon a time" (BOS first); a short buffer gets the count. */
  int32_t ids[16];
  CHECK(hearth_tokenize(m, "Once upon a time", 1, 0, ids, 2) == 5);
  CHECK(hearth_tokenize(m, "Once upon a time", 1, 0, ids, 16) == 5);
  const int32_t want[5] = {1, 403, 407, 261, 378};
  CHECK(memcmp(ids, want, sizeof want) == 0);
  char* text = hearth_detokenize(m, ids + 1, 4);
  CHECK(text && strcmp(text, "Once upon a time") == 0);
  hearth_free_string(text);
  int32_t bad = 9999;
  CHECK(hearth_detokenize(m, &bad, 1) == NULL && strstr(hearth_last_error(), "vocabulary") != NULL);

  /* Greedy: llama.cpp's text ("<s> " + prompt + continuation), streamed and returned alike. */
  hearth_generate_params gp = hearth_generate_params_default();
  gp.temperature = 0;
  gp.n_predict = 60;
  struct collected c = {{0}, 0, 0, 0};
  char* out = hearth_generate(m, "Once upon a time", &gp, collect, &c);
  CHECK(out != NULL);
  if (out) {
    CHECK(strlen(out) > 100 && strcmp(out, c.text) == 0);
    char full[8192];
    snprintf(full, sizeof full, "<s> Once upon a time%s", out);
    CHECK(strncmp(ref, full, strlen(full)) == 0);
    hearth_free_string(out);
  }
  /* The callback stops it. */
  struct collected first = {{0}, 0, 0, 1};
  out = hearth_generate(m, "Once upon a time", &gp, collect, &first);
  CHECK(out != NULL && first.calls == 1 && strlen(out) < 20);
  hearth_free_string(out);

  /* A generated control token adds no text: greedy from "One day" writes <s> (BOS) before its next story,
     and llama.cpp shows nothing for it. */
  gp.n_predict = 250;
  out = hearth_generate(m, "One day", &gp, NULL, NULL);
  CHECK(out != NULL && strstr(out, "<s>") == NULL && strstr(out, "had fun. Once upon a time") != NULL);
  hearth_free_string(out);
  gp.n_predict = 60;

  /* A bad schema is an error, not a crash; JSON mode gives JSON. */
  gp.json = 1;
  gp.json_schema = "{\"type\": \"object\", \"anyOf\": []}";
  CHECK(hearth_generate(m, "x", &gp, NULL, NULL) == NULL && strstr(hearth_last_error(), "anyOf") != NULL);
  /* Issue 15: an enum value nested 100,000 deep overflowed the stack; the schema's depth limit is named. */
  {
    const size_t n = 100000;
    char* deep = malloc(2 * n + 16);
    if (deep) {
      char* w = deep;
      w += sprintf(w, "{\"enum\":[");
      memset(w, '[', n), w += n;
      memset(w, ']', n), w += n;
      strcpy(w, "]}");
      gp.json_schema = deep;
      CHECK(hearth_generate(m, "x", &gp, NULL, NULL) == NULL && strstr(hearth_last_error(), "deeper than 64") != NULL);
      free(deep);
    }
  }
  gp.json_schema = NULL;
  gp.n_predict = 30;
  out = hearth_generate(m, "Once upon a time", &gp, NULL, NULL);
  CHECK(out != NULL);
  if (out) {
    const char* p = out;
    while (*p == ' ' || *p == '\n' || *p == '\t' || *p == '\r') ++p; /* JSON allows leading whitespace */
    CHECK(*p == '{');
    if (*p != '{') fprintf(stderr, "JSON mode gave: %s\n", out);
  }
  hearth_free_string(out);

  /* Chat in the model's template (stories260K has none: plain text), and a prompt longer than the context. */
  const char* roles[2] = {"system", "user"};
  const char* contents[2] = {"You tell stories.", "Tell me one."};
  gp = hearth_generate_params_default();
  gp.n_predict = 8;
  out = hearth_chat(m, roles, contents, 2, &gp, NULL, NULL);
  CHECK(out != NULL);
  hearth_free_string(out);
  gp.n_ctx = 4;
  CHECK(hearth_generate(m, "Once upon a time there was", &gp, NULL, NULL) == NULL);
  CHECK(strlen(hearth_last_error()) > 0);

  /* Choices: probabilities that sum to 1, the greedy continuation the likeliest. */
  const char* names[2] = {"Tom", "Lily"};
  double probs[2], lps[2];
  CHECK(hearth_choices(m, "Once upon a time, there was a little girl named", names, 2, probs, lps) == 0);
  CHECK(fabs(probs[0] + probs[1] - 1.0) < 1e-9 && probs[1] > probs[0] && lps[1] > lps[0]);
  CHECK(hearth_choices(m, "x", names, 0, probs, NULL) == -1);

  /* Embeddings: n_embd values of unit length. */
  float e[64];
  CHECK(hearth_embed(m, "Once upon a time", e, 64) == 64);
  double norm = 0;
  for (int i = 0; i < 64; ++i) norm += (double)e[i] * e[i];
  CHECK(fabs(norm - 1.0) < 1e-4);

  hearth_model_free(m);
  if (failures) fprintf(stderr, "%d checks failed\n", failures);
  return failures ? 1 : 0;
}

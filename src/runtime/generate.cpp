#include "hearth/generate.h"

#include <chrono>

#include "runtime/token_stream.h"
#include "sampling/json_schema.h"

namespace hearth {

void check_json_schema(const std::string& schema_json) { sampling::JsonSchema::parse(schema_json); }

GenerateStats generate(Session& session, std::span<const int32_t> prompt, const GenerateParams& params,
                       const std::function<bool(const std::string&)>& on_text, int seq) {
  const auto t0 = std::chrono::steady_clock::now();
  TokenStream ts(session.model(), params, prompt, on_text, t0);
  const float* logits = session.decode(prompt, seq);
  const double prompt_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  for (int32_t tok; (tok = ts.next(logits, session.n_past(seq), session.n_ctx())) >= 0;)
    logits = session.decode(std::span<const int32_t>(&tok, 1), seq);
  GenerateStats st = ts.finish();
  st.prompt_ms = prompt_ms;
  return st;
}

}  // namespace hearth
